"""Training the demo model, and evaluating it with the real sampler."""

"""The prompt: its boxes, the image strip and the sampler settings."""

"""Qt views of the engine's step snapshots: the token grid, the entropy heatmap and the per-step curves."""

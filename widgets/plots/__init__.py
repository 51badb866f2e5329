"""Per-step plots of one canvas: the entropy heatmap and the step curves."""

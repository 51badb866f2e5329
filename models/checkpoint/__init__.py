"""Checkpoints: loading, device placement, memory plans, quantization, the processor."""

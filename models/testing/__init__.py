"""Test tooling: tiny checkpoints and parity runs; the product never imports it."""

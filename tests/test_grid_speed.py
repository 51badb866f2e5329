"""The token grid at canvas 256 paints a streamed step well under a frame (16 ms). A generous bound on a shared
machine: scripts/benchmark_grid.py carries the real figures (and the comparison with the old grid)."""

from __future__ import annotations

import statistics
import time

import numpy as np
from qt_helpers import shown

from models.events import StepSnapshot
from widgets.token_grid import TokenGrid

WORDS = "the model lays down a canvas of random tokens and denoises it in parallel step by step".split()


def streamed_history(length: int = 256, steps: int = 24) -> list[StepSnapshot]:
    """Every cell changes colour at every step (the worst case), drafts flicker until each position settles."""
    rng = np.random.default_rng(0)
    final = rng.integers(0, len(WORDS), length)
    settle = rng.integers(0, steps, length)
    snaps = []
    for s in range(steps):
        done = settle <= s
        argmax = np.where(done, final, rng.integers(0, len(WORDS), length)).astype(np.int64)
        entropy = np.where(done, rng.random(length) * 0.4, 1 + rng.random(length) * 6).astype(np.float32)
        snaps.append(StepSnapshot(0, s, argmax, done, entropy, np.zeros(length, bool), np.ones(length, bool),
                                  float(entropy.mean()), int(done.sum()), 0.5, 0.1 * s))  # fmt: skip
    return snaps


def test_a_streamed_step_at_canvas_256_paints_well_under_a_frame(qtbot):
    grid = shown(qtbot, TokenGrid(lambda i: "\u2581" + WORDS[i], 12.0), 760, 560)
    snaps = streamed_history()
    times = []
    for round_ in range(2):  # the first round fills the text caches
        for s in range(len(snaps)):
            start = time.perf_counter()
            grid.show_step(snaps[: s + 1], s)
            grid.repaint(grid._cells_area())  # what the window pays for a streamed step
            if round_:
                times.append(time.perf_counter() - start)
    assert grid.snapshot() is snaps[-1]
    median_ms = statistics.median(times) * 1000
    assert median_ms < 16, f"median {median_ms:.1f} ms per streamed step at canvas 256"

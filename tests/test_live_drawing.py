"""While a run streams at canvas 256, the canvas views draw each frame on their render worker and the GUI thread only
puts the finished image on screen; frames are dropped, never queued, and the newest step is the one shown.

What the design guarantees, whatever the machine's speed; the timings are scripts/window_latency.py's.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from qt_helpers import shown

from models.work.events import StepSnapshot
from widgets.canvas.canvas_panel import CanvasPanel
from widgets.canvas.grid_cells import CellFrame
from widgets.canvas.grid_render import CellsImage
from widgets.canvas.text_layout import TextPainter

WORDS = "the model lays down a canvas of random tokens and denoises it in parallel step by step".split()


def streamed_history(length: int = 256, steps: int = 24, seed: int = 0) -> list[StepSnapshot]:
    """Every cell changes colour at every step (the worst case), drafts flicker until each position settles."""
    rng = np.random.default_rng(seed)
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


def drew(view, snap: StepSnapshot) -> bool:
    """Whether the render worker's last picture is of `snap`."""
    frame = view.drawn_frame()
    return frame is not None and frame.snapshot is snap


@pytest.fixture
def drawn_on(monkeypatch) -> list[bool]:
    """For every frame drawn (grid cells or running text), whether the GUI thread drew it."""
    threads: list[bool] = []

    def spy(original):
        def drawing(*args, **kwargs):
            threads.append(threading.current_thread() is threading.main_thread())
            return original(*args, **kwargs)

        return drawing

    monkeypatch.setattr(CellsImage, "draw", spy(CellsImage.draw))
    monkeypatch.setattr(TextPainter, "paint", spy(TextPainter.paint))
    return threads


@pytest.fixture
def built_on(monkeypatch) -> list[bool]:
    """For every frame built (colours and marks of every cell), whether the GUI thread built it."""
    threads: list[bool] = []
    original = CellFrame.build_from.__func__

    def building(cls, inputs):
        threads.append(threading.current_thread() is threading.main_thread())
        return original(cls, inputs)

    monkeypatch.setattr(CellFrame, "build_from", classmethod(building))
    return threads


@pytest.mark.parametrize("view", ["grid", "text"])
def test_a_streamed_step_is_drawn_on_the_worker_and_the_newest_is_shown(qtbot, drawn_on, built_on, view):
    panel = shown(qtbot, CanvasPanel(lambda i: "\u2581" + WORDS[i], 12.0), 900, 700)
    panel.set_view(view)
    shown_view = panel.current()
    snaps = streamed_history()
    for s in range(len(snaps)):
        shown_view.show_step(snaps[: s + 1], s, live=True)  # a burst: no event-loop pass between the steps
    qtbot.waitUntil(lambda: drew(shown_view, snaps[-1]), timeout=30_000)
    qtbot.waitUntil(lambda: not shown_view._dirty, timeout=30_000)  # and painted
    assert drawn_on and not any(drawn_on), "the GUI thread drew a live frame"
    assert len(drawn_on) < len(snaps)  # frames dropped: a burst of 24 steps is a few frames, the newest last
    assert built_on and not any(built_on), "the GUI thread built a live frame"  # the frame too, not only its picture
    live = shown_view.grab().toImage()
    # The picture the worker drew for the newest step is the one a paint on the GUI thread draws for it.
    drawn_on.clear()
    shown_view.show_step(snaps, len(snaps) - 1, live=False)
    assert shown_view.grab().toImage() == live and drawn_on and all(drawn_on)


def test_the_hidden_view_draws_nothing_while_a_run_streams(qtbot, drawn_on):
    panel = shown(qtbot, CanvasPanel(lambda i: "\u2581" + WORDS[i], 12.0), 900, 700)
    panel.set_view("grid")
    snaps = streamed_history(steps=6)
    for s in range(len(snaps)):
        with qtbot.waitSignal(panel.grid.framePainted, timeout=30_000):
            panel.show_step(snaps[: s + 1], s, live=True)
    assert panel.text.drawn_frame() is None  # only the grid, on screen, was drawn
    panel.set_view("text")  # shown now: it draws the newest step
    qtbot.waitUntil(lambda: drew(panel.text, snaps[-1]), timeout=30_000)
    assert not any(drawn_on)

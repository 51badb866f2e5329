"""The window keeps up at the real canvas size (256) while a run streams, with the grid, the text view and the
inspector open, and while recorded steps arrive 200 times a second.

Timing tests on a shared two-core machine: each run uses a fixed seed and no adaptive stop, so every run streams the
same steps. The bounds are what this machine holds with a margin, not the 16 ms frame every gap should fit: idle, ten
runs of these tests measured p95 10-20 ms (the text view highest) and the worst streaming gap 15-30 ms; the pass
that answers Generate (every view cleared and laid out for the new run) took 16-61 ms in scripts/window_latency.py.
"""

from __future__ import annotations

import pytest

from app.latency_probe import LatencyProbe, paced, percentiles
from models.events import StepSnapshot
from models.generator import Generator
from models.prompts import Prompt
from tests.window_helpers import fixed_seed, last_run, load, make_window, set_spin, type_prompt

FRAME_MS = 16
MOST_MS = 25  # the 95th percentile of the streaming gaps
WORST_MS = 3 * FRAME_MS
ANSWER_MS = 100  # the pass that answers Generate: within the tenth of a second a click feels immediate


@pytest.fixture
def window(qtbot, tmp_path, canvas256_checkpoint):
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, canvas256_checkpoint)
    type_prompt(qtbot, win, "Latency")
    set_spin(win, "max_new_tokens", 256)  # one canvas of the real size
    set_spin(win, "max_denoising_steps", 32)
    set_spin(win, "confidence_threshold", 0)  # no adaptive stop: every run streams all 32 steps
    fixed_seed(win, 0)
    return win


def streamed_gaps(qtbot, win) -> tuple:
    probe = LatencyProbe()
    with qtbot.waitSignal(win.generationDone, timeout=120_000):
        win.generate()
        probe.start()
    gaps = probe.stop()
    assert gaps[0] <= ANSWER_MS, f"answering Generate held the GUI thread for {gaps[0]:.1f} ms"
    return gaps[1:-1], gaps[-1]  # the last gap spans the one pass that finishes the run


def assert_keeps_up(figures: dict[str, float], what: str) -> None:
    assert figures["p95"] <= MOST_MS and figures["worst"] <= WORST_MS, f"the GUI thread stalled {what}: {figures}"


@pytest.mark.parametrize("view", ["grid", "text"])
def test_a_run_at_canvas_256_streams_without_stalling(qtbot, window, view):
    window.canvas.set_view(view)
    window.inspection.inspect(7)  # the inspector open on a position, following every step
    streaming, finishing = streamed_gaps(qtbot, window)
    assert last_run(window).step_count() == 32 and len(streaming) > 40
    assert_keeps_up(percentiles(streaming), "while the run streamed")
    assert finishing <= 2 * FRAME_MS, f"finishing the run held the GUI thread for {finishing:.1f} ms"


def test_steps_arriving_200_a_second_drop_frames_not_steps(qtbot, window):
    settings = window.generation.run_settings()
    recorded = list(Generator(window.loaded).generate(Prompt(user="Latency"), settings))  # a run, recorded once
    steps = sum(isinstance(e, StepSnapshot) for e in recorded)
    fast = paced(recorded, 200, lambda e: isinstance(e, StepSnapshot))
    window.engine.generator.generate = lambda *args, **kwargs: fast  # the worker streams the recording at 200/s
    streaming, _ = streamed_gaps(qtbot, window)
    assert last_run(window).step_count() == steps  # every step recorded, though not every step was drawn
    assert_keeps_up(percentiles(streaming), "at 200 steps a second")

"""The window keeps up at the real canvas size (256) while a run streams, with the grid or the text view, the inspector
and the plots open, and while recorded steps arrive 200 times a second.

What the design guarantees, whatever the machine's speed (the gaps themselves are scripts/window_latency.py's, on a
shared two-core machine they say more about the machine than the window): the garbage collector was settled after
the model loaded, so no full collection walks the modules of torch, Qt and pyqtgraph; every streamed frame is drawn on
the render worker, never on the GUI thread; frames are dropped, never queued, and no step is lost.
"""

from __future__ import annotations

import gc
import sys
import threading
import time

import pytest

from app.shell.latency_probe import paced
from models.checkpoint.heap import walked_by_full_collection
from models.engine.cpu_threads import GUI_SWITCH_INTERVAL_S
from models.engine.generator import Generator
from models.work.changes import Change
from models.work.events import StepSnapshot
from models.work.prompts import Prompt
from tests.window_helpers import fixed_seed, last_run, load, make_window, set_spin, type_prompt
from widgets.canvas.grid_render import CellsImage
from widgets.canvas.text_layout import TextPainter

FEW = 20  # a full collection walks at most 1/FEW of what is frozen


@pytest.fixture
def window(qtbot, tmp_path, canvas256_checkpoint):
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, canvas256_checkpoint)
    type_prompt(qtbot, win, "Latency")
    set_spin(win, "max_new_tokens", 256)  # one canvas of the real size
    set_spin(win, "max_denoising_steps", 12)
    set_spin(win, "confidence_threshold", 0)  # no adaptive stop: every run streams every step
    fixed_seed(win, 0)
    win.inspection.inspect(7)  # the inspector open on a position, following every step
    return win


class Draws:
    """Every canvas frame drawn: on which thread, and whether the run was still streaming."""

    def __init__(self) -> None:
        self.streaming = lambda: False  # is a run streaming now? (its last frame, once it ended, is the GUI's)
        self.on_gui: list[bool] = []  # while streaming: drawn by the GUI thread?

    def spy(self, original):
        def drawing(*args, **kwargs):
            if self.streaming():
                self.on_gui.append(threading.current_thread() is threading.main_thread())
            return original(*args, **kwargs)

        return drawing


@pytest.fixture
def draws(monkeypatch) -> Draws:
    spy = Draws()
    monkeypatch.setattr(CellsImage, "draw", spy.spy(CellsImage.draw))
    monkeypatch.setattr(TextPainter, "paint", spy.spy(TextPainter.paint))
    return spy


def visible_to_the_collector() -> set[int]:
    return {id(obj) for generation in range(3) for obj in gc.get_objects(generation)}


def test_a_model_load_takes_the_model_and_the_libraries_out_of_every_collection(window):
    visible = visible_to_the_collector()
    model = window.engine.loaded.model
    assert not any(id(module) in visible for module in model.modules())
    assert not any(id(parameter) in visible for parameter in model.parameters())
    assert len(visible) * FEW < gc.get_freeze_count()  # what a full collection would walk: a few thousand objects


def stream(qtbot, win, draws: Draws, thresholds: list[int] | None = None) -> list[int]:
    """One run; at every streamed batch, how many objects a full collection would walk (and, into `thresholds`, the
    collector's full-collection threshold then)."""
    walked: list[int] = []

    def sample(change: Change) -> None:
        if win.workspace.running() is not None:
            walked.append(walked_by_full_collection())
            if thresholds is not None and change & Change.STEPS:
                thresholds.append(gc.get_threshold()[2])

    win.hub.changed.connect(sample)
    draws.streaming = lambda: win.workspace.running() is not None
    with qtbot.waitSignal(win.generationDone, timeout=300_000):
        win.generate()
    draws.streaming = lambda: False
    win.hub.changed.disconnect(sample)
    return walked


@pytest.mark.parametrize("view", ["grid", "text"])
def test_a_run_at_canvas_256_streams_on_the_render_worker_and_collections_stay_small(qtbot, window, view, draws):
    window.canvas.set_view(view)
    frozen = gc.get_freeze_count()
    walked = stream(qtbot, window, draws)
    assert last_run(window).step_count() == 12
    assert draws.on_gui and not any(draws.on_gui), "the GUI thread drew a streamed frame"
    assert walked and max(walked) * FEW < frozen, f"a full collection would walk {max(walked)} of {frozen} objects"
    # The run's objects join the frozen ones once it is over (in a pass of its own), so runs do not pile up.
    qtbot.waitUntil(lambda: walked_by_full_collection() * FEW < gc.get_freeze_count(), timeout=30_000)


def test_steps_arriving_200_a_second_drop_frames_not_steps(qtbot, window, draws):
    settings = window.generation.run_settings()
    recorded = list(Generator(window.loaded).generate(Prompt(user="Latency"), settings))  # a run, recorded once
    steps = sum(isinstance(e, StepSnapshot) for e in recorded)
    fast = paced(recorded, 200, lambda e: isinstance(e, StepSnapshot))
    window.engine.generator.generate = lambda *args, **kwargs: fast  # the worker streams the recording at 200/s
    started = time.perf_counter()
    stream(qtbot, window, draws)
    seconds = time.perf_counter() - started
    assert last_run(window).step_count() == steps  # every step recorded, though not every step was drawn
    # At most a frame a thirtieth of a second: a bound that grows with the time the run took, on any machine.
    frames = len(draws.on_gui)
    assert 1 <= frames <= min(steps, 1 + 30 * seconds) and not any(draws.on_gui)


def test_full_collections_wait_for_the_end_of_a_run_and_the_window_gets_the_interpreter_back_quickly(
        qtbot, window, draws):
    assert sys.getswitchinterval() <= GUI_SWITCH_INTERVAL_S  # set once a local model is loaded
    before = gc.get_threshold()
    held: list[int] = []
    stream(qtbot, window, draws, held)
    assert held and all(threshold > 1000 * before[2] for threshold in held)  # no full collection while it streams
    qtbot.waitUntil(lambda: gc.get_threshold() == before, timeout=30_000)  # and they come back after it
    assert walked_by_full_collection() * FEW < gc.get_freeze_count()  # with the run's objects settled


def test_the_vocabulary_is_fingerprinted_while_the_model_loads_not_in_a_pass_of_the_window(
        qtbot, tmp_path, canvas256_checkpoint, monkeypatch, draws):
    import models.work.vocabulary as vocabulary

    on_gui: list[bool] = []  # 0.5-0.7 s at the real vocabulary: a frozen window if the GUI thread did it
    original = vocabulary.tokenizer_fingerprint
    monkeypatch.setattr(vocabulary, "tokenizer_fingerprint", lambda tokenizer: (
        on_gui.append(threading.current_thread() is threading.main_thread()), original(tokenizer))[1])
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, canvas256_checkpoint)
    type_prompt(qtbot, win, "Latency")
    set_spin(win, "max_denoising_steps", 2)
    stream(qtbot, win, draws)
    assert on_gui == [False]  # once, on the loading thread

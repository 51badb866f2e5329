"""The main window, driven as a person would: load, type, Ctrl+Enter, watch, scrub, stop, close."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from app.running.thread_runner import running_threads
from app.shell.main_window import MainWindow
from models.engine.generator import Generator
from models.work.events import StepSnapshot
from tests.window_helpers import (
    close_quietly,
    fixed_seed,
    generate_with_keys,
    last_run,
    load,
    make_window,
    set_spin,
    type_prompt,
)


@pytest.fixture
def settings_file(tmp_path):
    return str(tmp_path / "settings.ini")


@pytest.fixture
def window(qtbot, settings_file):
    win = make_window(qtbot, settings_file)
    yield win
    close_quietly(win)


def test_a_full_generation_streams_into_the_window(qtbot, window, loaded_small, small_canvas_checkpoint):
    load(qtbot, window, small_canvas_checkpoint)
    assert window.generate_button.isEnabled() and not window.stop_button.isEnabled()
    type_prompt(qtbot, window, "List three colours")
    set_spin(window, "max_new_tokens", 32)
    set_spin(window, "max_denoising_steps", 6)
    fixed_seed(window, 5)
    result = generate_with_keys(qtbot, window)
    assert not result.cancelled
    run = last_run(window)
    assert run.canvas_indices == [0, 1]
    assert [len(run.steps(c)) for c in (0, 1)] == list(result.canvas_steps)
    # After the run the window shows the text it wrote: the grid holds the document's last canvas, coloured by
    # the entropy each token had at its canvas's last step; the heatmap holds that canvas's history.
    doc = window.workspace.document
    assert window.workspace.position.run is None and window.replay.is_document()
    shown = window.grid.snapshot()
    np.testing.assert_array_equal(shown.argmax, doc.ids[16:32])
    np.testing.assert_array_equal(shown.entropy, run.steps(1)[-1].entropy)
    np.testing.assert_array_equal(window.heatmap.image_data()[-1], run.steps(1)[-1].entropy)
    assert window.output.answer() == result.answer
    stats = window.output.stats()
    assert "#1 generate · seed 5 · accepted" in stats["Last written by"]
    # The same seed through the engine alone gives the same ids: the window adds nothing to the run.
    same = list(Generator(window.loaded).generate(run.prompt, run.settings))[-1]
    assert same.token_ids.tolist() == result.token_ids.tolist()


def test_the_scrubber_replays_any_step_exactly(qtbot, window, small_canvas_checkpoint):
    load(qtbot, window, small_canvas_checkpoint)
    type_prompt(qtbot, window, "Hello")
    set_spin(window, "max_new_tokens", 32)
    set_spin(window, "max_denoising_steps", 5)
    generate_with_keys(qtbot, window)
    run = last_run(window)
    # Pick canvas 0, then press Home and Right twice on the slider: step 2 of canvas 0.
    window.replay.canvas_combo.setCurrentIndex(0)
    window.replay.slider.setFocus()
    QTest.keyClick(window.replay.slider, Qt.Key.Key_Home)
    QTest.keyClick(window.replay.slider, Qt.Key.Key_Right)
    QTest.keyClick(window.replay.slider, Qt.Key.Key_Right)
    assert window.replay.position() == (0, 2)
    assert window.workspace.position.run == run.id
    assert window.grid.snapshot() is run.steps(0)[2]
    assert window.heatmap.marker_step() == 2
    np.testing.assert_array_equal(window.heatmap.image_data()[2], run.steps(0)[2].entropy)
    np.testing.assert_allclose(window.curves.mean_entropy()[:5], [s.mean_entropy for s in run.steps(0)], rtol=1e-6)
    # Clicking a heatmap cell moves the scrubber and selects that token in the grid.
    window.heatmap.stepPositionClicked.emit(4, 7)
    assert window.replay.position() == (0, 4) and window.grid.snapshot() is run.steps(0)[4]
    assert window.grid.selection() == (7, 8)
    # The runs panel's first row goes back to the text itself.
    window.w.runs.runChosen.emit(-1)
    assert window.workspace.position.run is None and window.grid.snapshot().step_index == -1


def test_stop_takes_effect_at_the_next_step(qtbot, window, text_checkpoint):
    load(qtbot, window, text_checkpoint)
    type_prompt(qtbot, window, "Go on and on")
    set_spin(window, "max_new_tokens", 32 * 20)
    set_spin(window, "max_denoising_steps", 48)
    computed = []  # the steps the engine has computed, counted on the worker thread as they are made
    engine_generate = window.engine.generator.generate

    def counting(*args, **kwargs):
        for event in engine_generate(*args, **kwargs):
            computed.extend([event] if isinstance(event, StepSnapshot) else [])
            yield event

    window.engine.generator.generate = counting
    with qtbot.waitSignal(window.generationDone, timeout=60_000) as blocker:
        window.generate_button.click()
        qtbot.waitUntil(lambda: window.workspace.runs and last_run(window).step_count() >= 2, timeout=30_000)
        assert window.stop_button.isEnabled() and not window.generate_button.isEnabled()
        QTest.keyClick(window, Qt.Key.Key_Escape)
        at_stop = len(computed)
    result = blocker.args[0]
    assert result.cancelled
    # The step under way when Stop was pressed may finish; none after it starts, however fast the machine.
    assert at_stop <= last_run(window).step_count() <= at_stop + 1
    assert last_run(window).fate.value == "cancelled"
    assert window.generate_button.isEnabled() and not window.stop_button.isEnabled()


def test_generate_twice_never_starts_a_second_worker(qtbot, window, text_checkpoint):
    load(qtbot, window, text_checkpoint)
    type_prompt(qtbot, window, "Twice")
    set_spin(window, "max_new_tokens", 64)
    set_spin(window, "max_denoising_steps", 20)
    with qtbot.waitSignal(window.generationDone, timeout=60_000):
        assert window.generate() is True
        assert window.generate() is False  # the action is disabled and the runner refuses a second task
        window.generation.generate_action.trigger()
        assert len(running_threads()) == 1
    assert len(window.workspace.runs) == 1


def test_closing_mid_generation_stops_the_worker(qtbot, settings_file, text_checkpoint):
    win = MainWindow(QSettings(settings_file, QSettings.Format.IniFormat))
    win.show()
    load(qtbot, win, text_checkpoint)
    type_prompt(qtbot, win, "Long")
    set_spin(win, "max_new_tokens", 32 * 30)
    win.generate()
    qtbot.waitUntil(lambda: last_run(win).step_count() >= 1, timeout=30_000)
    win.workspace.mark_saved("")  # nothing to ask about
    assert win.close()
    assert not running_threads()  # closing cancelled the run and waited for the worker to end
    win.deleteLater()


def test_a_failed_load_keeps_the_previous_model(qtbot, window, tmp_path, text_checkpoint):
    load(qtbot, window, text_checkpoint)
    previous = window.loaded
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text('{"model_type": "llama"}')
    with qtbot.waitSignal(window.errorShown, timeout=30_000) as blocker:
        window.load_model(str(tmp_path / "bad"))
    assert "llama" in blocker.args[0] and "Traceback" not in blocker.args[0]
    assert window.loaded is previous and window.generate_button.isEnabled()
    box = window.findChild(QMessageBox)
    assert box.isVisible() and "llama" in box.text()
    QTest.keyClick(box, Qt.Key.Key_Return)  # dismiss it, as a person would
    qtbot.waitUntil(lambda: not box.isVisible())
    type_prompt(qtbot, window, "still works")
    set_spin(window, "max_denoising_steps", 2)
    assert not generate_with_keys(qtbot, window).cancelled


def test_settings_and_last_model_are_remembered(qtbot, settings_file, text_checkpoint):
    first = make_window(qtbot, settings_file)
    load(qtbot, first, text_checkpoint)
    set_spin(first, "entropy_bound", 0.25)
    set_spin(first, "confidence_threshold", 1e-9)
    close_quietly(first)
    second = make_window(qtbot, settings_file)
    assert second.store.value("models/last") == str(text_checkpoint)
    assert second.recent_models()[0] == str(text_checkpoint)
    load(qtbot, second, text_checkpoint)
    assert second.sampler_panel.settings().entropy_bound == pytest.approx(0.25)
    assert second.workspace.settings.entropy_bound == pytest.approx(0.25)
    assert second.curves.threshold() == pytest.approx(1e-9)  # the plots show the restored stop threshold
    close_quietly(second)


def test_an_engine_error_reaches_the_user_as_a_message(qtbot, window, text_checkpoint, monkeypatch):
    load(qtbot, window, text_checkpoint)

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.11 GiB total capacity)")
        yield  # a generator, like the real one

    monkeypatch.setattr(window.engine.generator, "generate", out_of_memory)
    type_prompt(qtbot, window, "Too big")
    with qtbot.waitSignal(window.errorShown, timeout=30_000) as blocker:
        window.generate()
    assert "ran out of memory" in blocker.args[0] and "Traceback" not in blocker.args[0]
    assert window.generate_button.isEnabled() and not window.runner.busy  # the window stays usable
    assert last_run(window).fate.value == "failed"


def test_loading_can_be_cancelled_and_keeps_the_previous_model(qtbot, window, text_checkpoint, monkeypatch):
    load(qtbot, window, text_checkpoint)
    previous = window.loaded
    import models.checkpoint.processing

    real = models.checkpoint.processing.load_processor
    started = []

    def slow_processor(path):
        started.append(path)
        time.sleep(0.5)  # a big checkpoint's load; the user presses Cancel meanwhile
        return real(path)

    monkeypatch.setattr(models.checkpoint.processing, "load_processor", slow_processor)
    assert window.load_model(str(text_checkpoint))
    qtbot.waitUntil(lambda: bool(started))
    assert window.status.cancel_button.isVisible()
    qtbot.mouseClick(window.status.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)
    assert window.loaded is previous and "cancelled" in window.statusBar().currentMessage()
    assert not window.status.progress.isVisible() and window.generate_button.isEnabled()


def test_a_model_that_does_not_simply_fit_shows_its_plan_first(qtbot, window, text_checkpoint, monkeypatch,
                                                                a_person_answers):
    import dataclasses

    import models.checkpoint.memory_plan
    from widgets.panels.memory_plan_dialog import MemoryPlanDialog

    real = models.checkpoint.memory_plan.plan_memory
    asked = []

    def needs_offload(source, **kwargs):  # as on a machine whose GPU is too small for this checkpoint
        return dataclasses.replace(real(source, **kwargs), verdict="offload")

    def click_when_shown(button: str) -> QTimer:
        """The dialog is modal: a timer looks for it and clicks, as a person would once it shows."""
        timer = QTimer()

        def look() -> None:
            shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, MemoryPlanDialog) and w.isVisible()]
            if shown:
                timer.stop()
                asked.append(shown[0].plan.source)
                qtbot.mouseClick(getattr(shown[0], f"{button}_button"), Qt.MouseButton.LeftButton)

        timer.timeout.connect(look)
        timer.start(50)
        return timer

    monkeypatch.setattr(models.checkpoint.memory_plan, "plan_memory", needs_offload)
    cancel = click_when_shown("cancel")
    window.load_model(str(text_checkpoint))
    qtbot.waitUntil(lambda: bool(asked) and not window.runner.busy, timeout=60_000)
    cancel.stop()
    assert window.loaded is None and "Not loaded" in window.statusBar().currentMessage()
    load = click_when_shown("load")
    with qtbot.waitSignal(window.modelReady, timeout=60_000):
        window.load_model(str(text_checkpoint))
    load.stop()
    assert asked == [str(text_checkpoint)] * 2 and window.loaded is not None

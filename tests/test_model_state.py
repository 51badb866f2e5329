"""What the window says about its model when there is none: after Esc cancels the start-up load, and before any.

Driven with keys sent to the focused widget, as a person presses them."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.window_helpers import close_quietly, focus_window, load, make_window


@pytest.fixture
def window(qtbot, tmp_path):
    win = make_window(qtbot, tmp_path / "settings.ini")
    yield win
    close_quietly(win)


@dataclass
class Hold:
    reached: threading.Event  # the load is waiting at the processor
    release: threading.Event  # the test lets it go on


@pytest.fixture
def held_loads(monkeypatch) -> Hold:
    """Loads wait at the processor until the test releases them: as on a first start, where importing torch holds
    the load for seconds and a cancel takes effect only at its next check."""
    import models.checkpoint.processing

    real, hold = models.checkpoint.processing.load_processor, Hold(threading.Event(), threading.Event())

    def held_processor(path):
        hold.reached.set()
        hold.release.wait(timeout=60)
        return real(path)

    monkeypatch.setattr(models.checkpoint.processing, "load_processor", held_processor)
    yield hold
    hold.release.set()


def press(key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(QApplication.focusWidget(), key, modifier)


def visible_boxes() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def test_esc_during_the_start_up_load_leaves_a_window_that_tells_the_truth(qtbot, window, held_loads):
    focus_window(qtbot, window)
    assert window.load_model(None)  # what the start-up does: the demo model, in the background
    qtbot.waitUntil(held_loads.reached.is_set)
    # While it loads, Stop (which stops runs) is not offered; the load has its own Cancel, and Esc.
    assert not window.stop_button.isEnabled() and window.generate_button.isEnabled()
    QTest.keyClicks(QApplication.focusWidget(), "Sort 3 1 2")
    press(Qt.Key.Key_Escape)
    # The load stops only at its next check: until then the window says it is cancelling, and Ctrl+Enter says the
    # prompt will not run on it (it used to queue the prompt for a load that was never going to finish).
    assert "Cancelling the load" in window.statusBar().currentMessage()
    assert window.status.progress.format() == "Cancelling…" and not window.status.cancel_button.isEnabled()
    press(Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert "being cancelled" in window.statusBar().currentMessage() and not window.generation.queued
    assert not visible_boxes()
    held_loads.release.set()
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=30_000)
    assert window.loaded is None and window.status.model_label.text() == "No model"
    assert not window.stop_button.isEnabled() and not window.status.cancel_button.isVisible()
    # Once stopped, the Ctrl+Enter pressed meanwhile is answered: why there is no model, and the demo model offered.
    qtbot.waitUntil(lambda: len(visible_boxes()) == 1)
    offer = visible_boxes()[0]
    assert "no model to generate with: loading it was cancelled" in offer.text()
    assert "Load the demo model" in offer.defaultButton().text() and not window.workspace.runs
    assert "previous model" not in window.statusBar().currentMessage()
    # Enter takes the offer: the demo model loads, and the prompt generates once it is ready.
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None and QApplication.focusWidget().window() is offer)
    with qtbot.waitSignal(window.generationDone, timeout=120_000) as done:
        press(Qt.Key.Key_Return)
    assert not visible_boxes() and window.loaded is not None and window.loaded.name == "demo model"
    assert not done.args[0].cancelled
    assert [turn.user for turn in window.workspace.conversation.turns.values()] == ["Sort 3 1 2"]


def test_the_status_bar_says_truly_that_no_model_is_left_after_a_cancelled_load(qtbot, window, held_loads):
    focus_window(qtbot, window)
    assert window.load_model(None)
    qtbot.waitUntil(held_loads.reached.is_set)
    press(Qt.Key.Key_Escape)
    held_loads.release.set()
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=30_000)
    message = window.statusBar().currentMessage()
    assert "Loading cancelled: no model is loaded" in message and "previous model" not in message
    QTest.keyClicks(QApplication.focusWidget(), "Sort 3 1 2")
    press(Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # now at once
    qtbot.waitUntil(lambda: len(visible_boxes()) == 1)
    assert "loading it was cancelled" in visible_boxes()[0].text()
    visible_boxes()[0].close()


def test_ctrl_enter_before_any_model_says_so_and_esc_declines(qtbot, window):
    focus_window(qtbot, window)
    QTest.keyClicks(QApplication.focusWidget(), "Sort 3 1 2")
    press(Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(visible_boxes()) == 1)
    offer = visible_boxes()[0]
    assert "none has been loaded yet" in offer.text() and "No model" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None and QApplication.focusWidget().window() is offer)
    press(Qt.Key.Key_Escape)  # "Not now"
    qtbot.waitUntil(lambda: not visible_boxes())
    qtbot.waitUntil(lambda: window.model_offer.box is None)  # closed and deleted: the next Ctrl+Enter makes a new one
    assert not window.engine.busy and window.loaded is None and not window.workspace.runs


def test_cancelling_a_second_load_names_the_model_still_in_use(qtbot, window, text_checkpoint, held_loads):
    held_loads.release.set()
    load(qtbot, window, text_checkpoint)
    name = window.loaded.name
    held_loads.release.clear()
    held_loads.reached.clear()
    focus_window(qtbot, window)
    assert window.load_model(None)
    qtbot.waitUntil(held_loads.reached.is_set)
    assert not window.stop_button.isEnabled()
    press(Qt.Key.Key_Escape)
    held_loads.release.set()
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=30_000)
    assert f"Loading cancelled; still using {name}" in window.statusBar().currentMessage()
    assert window.loaded.name == name and window.generate_button.isEnabled()

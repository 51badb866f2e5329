"""A newcomer's first minutes, driven as a person would: where typing goes, what an empty answer says, the Help and
Edit menus, compile on a CPU, settings across a model switch, focus after removing an image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.shell.help_dialogs import ShortcutsDialog
from models.work.events import CanvasCommitted, GenerationResult
from tests.window_helpers import focus_window, generate_with_keys, load, make_window, set_spin


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path / "settings.ini")


def test_typing_goes_to_the_prompt_first(qtbot, window, small_canvas_checkpoint):
    focus_window(qtbot, window)
    assert QApplication.focusWidget() is window.prompt_panel.user_edit
    load(qtbot, window, small_canvas_checkpoint)
    QTest.keyClicks(QApplication.focusWidget(), "Sort 3 1 2")
    assert window.workspace.draft.user == "Sort 3 1 2" and window.workspace.draft.system == ""


def test_ctrl_enter_with_an_empty_prompt_says_so_in_the_status_bar(qtbot, window, small_canvas_checkpoint):
    load(qtbot, window, small_canvas_checkpoint)
    focus_window(qtbot, window)
    QTest.keyClick(window.prompt_panel.user_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert "Type a prompt first" in window.statusBar().currentMessage() and not window.workspace.runs
    assert not [w for w in QApplication.topLevelWidgets() if w.isVisible() and w.inherits("QMessageBox")]


def test_ctrl_enter_while_the_model_loads_generates_once_it_is_ready(qtbot, window, small_canvas_checkpoint):
    focus_window(qtbot, window)
    assert window.load_model(str(small_canvas_checkpoint))
    QTest.keyClicks(window.prompt_panel.user_edit, "Sort 3 1 2")
    with qtbot.waitSignal(window.generationDone, timeout=60_000):
        QTest.keyClick(window.prompt_panel.user_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        assert "still loading" in window.statusBar().currentMessage() and not window.workspace.runs
    assert len(window.workspace.runs) == 1 and window.workspace.conversation.turns[0].user == "Sort 3 1 2"


def test_esc_takes_back_a_prompt_queued_while_loading(qtbot, window, small_canvas_checkpoint):
    focus_window(qtbot, window)
    with qtbot.waitSignal(window.modelReady, timeout=60_000):
        assert window.load_model(str(small_canvas_checkpoint))
        QTest.keyClicks(window.prompt_panel.user_edit, "Sort 3 1 2")
        QTest.keyClick(window.prompt_panel.user_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        QTest.keyClick(window.prompt_panel.user_edit, Qt.Key.Key_Escape)
        assert "will not generate" in window.statusBar().currentMessage()
    assert window.loaded is not None and not window.workspace.runs and not window.engine.busy


def test_an_empty_answer_from_the_demo_model_says_why_and_what_to_try(qtbot, window):
    load(qtbot, window, "")  # the demo model
    ws = window.workspace
    ws.set_draft(ws.draft.__class__(user="Tell me a long story about a dragon"))
    run = ws.start_generation(ws.settings.with_values(seed=1))
    tokenizer = window.loaded.tokenizer
    ends = np.array([tokenizer.convert_tokens_to_ids("<turn|>")] + [tokenizer.pad_token_id] * 63)
    ws.add_events(run.id, [CanvasCommitted(0, ends, 2, True), GenerationResult(
        np.zeros(3, np.int64), ends, "", "", "", (2,), (True,), 0.1, 1.0, 1.0, 1.0)])  # only end and padding
    ws.finish_run(run.id)
    notice = window.output.notice
    assert notice.isVisible() and "demo model wrote no answer" in notice.text() and "Demo-model prompts" in \
        notice.text()
    ws.set_draft(ws.draft.__class__(user="Sort 4 2 9 1"))
    with qtbot.waitSignal(window.generationDone, timeout=60_000) as done:
        window.generate()
    if done.args[0].answer.strip():  # an answer to one of its tasks: no notice
        assert not notice.isVisible()


def test_compile_is_off_on_a_cpu_and_says_why(qtbot, window, small_canvas_checkpoint):
    load(qtbot, window, small_canvas_checkpoint)
    action = window.generation.compile_action
    assert not action.isEnabled() and "needs a CUDA GPU" in action.text() and "CUDA" in action.toolTip()


def test_help_lists_every_shortcut_and_finds_them(qtbot, window):
    window.help_actions["shortcuts"].trigger()
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, ShortcutsDialog))
    names = dialog.visible_actions()
    assert {"Re-denoise selection", "Lock or unlock selection", "Undo", "Generate", "Keyboard shortcuts"} <= set(names)
    qtbot.keyClicks(dialog.search, "ctrl+l")
    assert dialog.visible_actions() == ["Lock or unlock selection"]
    dialog.close()
    window.help_actions["about"].trigger()
    about = next(w for w in QApplication.topLevelWidgets() if w.isVisible() and w.inherits("QMessageBox"))
    assert "torch" in about.text() and "transformers" in about.text() and "Qt" in about.text()
    about.close()


def test_copy_and_select_all_work_on_the_grid(qtbot, window, small_canvas_checkpoint):
    load(qtbot, window, small_canvas_checkpoint)
    window.prompt_panel.set_prompt("Hello")
    set_spin(window, "max_denoising_steps", 2)
    generate_with_keys(qtbot, window)
    grid = window.grid
    grid.setFocus()
    focus_window(qtbot, window)
    grid.setFocus()
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_rect(0).center().toPoint())
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                     pos=grid.cell_rect(2).center().toPoint())
    QTest.keyClick(grid, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    ids = [int(i) for i in grid.snapshot().argmax[0:3]]
    assert QGuiApplication.clipboard().text() == window.loaded.tokenizer.decode(ids)
    QTest.keyClick(grid, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert grid.selection() == (0, 16)


def test_switching_models_keeps_what_the_user_changed(qtbot, window, small_canvas_checkpoint, text_checkpoint):
    load(qtbot, window, small_canvas_checkpoint)
    set_spin(window, "entropy_bound", 0.3)  # the user's choice
    load(qtbot, window, text_checkpoint)
    settings = window.sampler_panel.settings()
    assert settings.entropy_bound == pytest.approx(0.3)
    assert settings.max_new_tokens == window.loaded.defaults.max_new_tokens  # untouched: the new model's default


def test_removing_an_image_keeps_the_focus_in_the_strip(qtbot, window, tmp_path):
    paths = []
    for index, colour in enumerate([(200, 0, 0), (0, 200, 0)]):
        paths.append(tmp_path / f"{index}.png")
        Image.new("RGB", (40, 30), colour).save(paths[-1])
    strip = window.image_strip
    strip.add_files(paths)
    focus_window(qtbot, window)
    first = strip.tile(0).remove_button
    first.setFocus()
    qtbot.mouseClick(first, Qt.MouseButton.LeftButton)
    assert len(strip.images()) == 1
    assert QApplication.focusWidget() is strip.tile(0).remove_button  # not the next box in the window


def test_a_prompt_outside_the_demo_models_tasks_says_so_with_the_answer(qtbot, window):
    load(qtbot, window, "")  # the demo model
    focus_window(qtbot, window)
    notice = window.output.notice
    QTest.keyClicks(window.prompt_panel.user_edit, "Hello, how are you?")
    with qtbot.waitSignal(window.generationDone, timeout=60_000):
        QTest.keyClick(window.prompt_panel.user_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert notice.isVisible() and "demo model does not know this" in notice.text()
    assert "not one of its tasks" in notice.text() and "Demo-model prompts" in notice.text()
    window.prompt_panel.user_edit.selectAll()
    QTest.keyClicks(window.prompt_panel.user_edit, "Sort 4 2 9 1")
    with qtbot.waitSignal(window.generationDone, timeout=60_000):
        QTest.keyClick(window.prompt_panel.user_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert "does not know" not in notice.text()

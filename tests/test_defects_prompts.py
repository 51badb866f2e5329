"""The prompt and the sampler as a person meets them (issue 20, section 4, defects 5 and 6): a refused prompt leaves
nothing behind and says why in words for the window; sampler values a person typed are the ones in use."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from tests.window_helpers import focus_window, generate_with_keys, load, make_window, type_prompt

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def window(qtbot, tmp_path, small_canvas_checkpoint):
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, small_canvas_checkpoint)
    focus_window(qtbot, win)
    win.sampler_panel.spins["max_denoising_steps"].setValue(2)
    return win


def refusal_box(qtbot, win) -> QMessageBox:
    qtbot.waitUntil(lambda: any(b.isVisible() for b in win.findChildren(QMessageBox)) and not win.runner.busy,
                    timeout=60_000)
    boxes = [b for b in win.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1
    return boxes[0]


@pytest.mark.parametrize("limit", [("DIFFUSION_DESK_MAX_PROMPT_CHARS", "30", "characters"),
                                   ("DIFFUSION_DESK_MAX_PROMPT_TOKENS", "8", "tokens")])
def test_a_refused_prompt_adds_no_turn_no_branch_and_no_run(qtbot, window, monkeypatch, limit):
    variable, value, unit = limit
    win, ws = window, window.workspace
    type_prompt(qtbot, win, "Sort 4 9 2")
    generate_with_keys(qtbot, win)
    qtbot.mouseClick(win.w.conversation.rerun_button, Qt.MouseButton.LeftButton)  # "Run again…": a branch next
    monkeypatch.setenv(variable, value)
    long_prompt = "Sort 4 9 2 7 5 1 3 8 6 4 9 2 7 5 1 3 8 6 0"
    edit = win.prompt_panel.user_edit
    edit.setFocus()
    QTest.keyClick(edit, Qt.Key.Key_A, CTRL)
    qtbot.keyClicks(edit, long_prompt)
    turns, runs, draft, revision = dict(ws.conversation.turns), dict(ws.runs), ws.draft, ws.revision
    intent = win.prompt_panel.intent.text()
    QTest.keyClick(edit, Qt.Key.Key_Return, CTRL)
    box = refusal_box(qtbot, win)
    text = box.text()
    assert text.startswith("The prompt is too long:") and unit in text and "DIFFUSION_DESK" not in text
    assert dict(ws.conversation.turns) == turns and dict(ws.runs) == runs  # no turn, no branch, no failed run
    assert ws.draft == draft and ws.revision == revision
    assert edit.toPlainText() == long_prompt and win.prompt_panel.intent.text() == intent  # still a pending branch
    assert [(row.branch, row.branches) for row in win.w.conversation.rows()] == [(1, 1)]
    assert ws.position.run is None and win.grid.snapshot() is not None  # the answer on screen, not a blank grid
    QTest.keyClick(box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not box.isVisible())
    monkeypatch.delenv(variable)
    focus_window(qtbot, win)
    generate_with_keys(qtbot, win)  # within the limit again: the branch is made, numbered as if nothing happened
    assert [(row.branch, row.branches) for row in win.w.conversation.rows()] == [(2, 2)]
    assert sorted(ws.runs) == [1, 2]


def test_sampler_edits_made_while_the_model_loads_are_kept(qtbot, tmp_path, small_canvas_checkpoint):
    win = make_window(qtbot, tmp_path / "settings.ini")
    focus_window(qtbot, win)
    assert win.load_model(str(small_canvas_checkpoint))
    assert win.engine.busy  # still loading while the person types (no event is handled between the keys)
    steps = win.sampler_panel.spins["max_denoising_steps"]
    steps.setFocus()
    QTest.keyClick(steps, Qt.Key.Key_A, CTRL)
    QTest.keyClicks(steps, "7")
    QTest.keyClick(steps, Qt.Key.Key_Tab)
    with qtbot.waitSignal(win.modelReady, timeout=60_000):
        pass
    defaults = win.loaded.defaults
    assert steps.value() == 7 and win.workspace.settings.max_denoising_steps == 7
    assert win.workspace.settings.max_new_tokens == defaults.max_new_tokens  # the rest follows the checkpoint
    assert win.sampler_panel.spins["max_new_tokens"].value() == defaults.max_new_tokens


def test_a_restored_session_keeps_the_sampler_values_it_was_using(qtbot, tmp_path, small_canvas_checkpoint,
                                                                   loaded_small):
    import os
    from pathlib import Path

    from PySide6.QtCore import QSettings

    from models.session.autosave_files import autosave_path, write_autosave
    from tests.session_helpers import workspace_with_run

    ini = tmp_path / "settings.ini"
    store = QSettings(str(ini), QSettings.Format.IniFormat)  # what the last clean exit left: stability 1
    store.setValue("models/last", str(small_canvas_checkpoint))
    store.setValue("sampler", loaded_small.defaults.with_values(stability_threshold=1).to_dict())
    store.sync()
    crashed = workspace_with_run(loaded_small)
    crashed.set_settings(crashed.settings.with_values(stability_threshold=3))  # in use when the window died
    folder = Path(os.environ["DIFFUSION_DESK_DATA"])
    write_autosave(folder, crashed).rename(autosave_path(folder, 2**22 + 19))
    win = make_window(qtbot, ini)
    qtbot.waitUntil(lambda: win.autosaver.offer is not None and win.autosaver.offer.isVisible())
    restore = next(b for b in win.autosaver.offer.buttons() if b.text() == "Restore")
    qtbot.mouseClick(restore, Qt.MouseButton.LeftButton)  # before the model has loaded, as at a start
    assert win.sampler_panel.spins["stability_threshold"].value() == 3
    load(qtbot, win, small_canvas_checkpoint)
    assert win.sampler_panel.spins["stability_threshold"].value() == 3
    assert win.workspace.settings.stability_threshold == 3

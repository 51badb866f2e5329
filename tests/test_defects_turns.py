"""Where Generate puts a prompt, as a person meets it (issue 20, section 4, defect 4): beside the prompt a line says
whether Generate starts a conversation, follows up, or adds a branch ("Run again…"), and ticking Follow up after
"Run again…" makes the next turn, not one more branch."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.window_helpers import focus_window, generate_with_keys, load, make_window, type_prompt

CTRL = Qt.KeyboardModifier.ControlModifier
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def window(qtbot, tmp_path, small_canvas_checkpoint):
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, small_canvas_checkpoint)
    focus_window(qtbot, win)
    win.sampler_panel.spins["max_denoising_steps"].setValue(2)
    return win


def intent(win) -> str:
    return win.prompt_panel.intent.text()


def retype_prompt(qtbot, win, text: str) -> None:
    edit = win.prompt_panel.user_edit
    edit.setFocus()
    QTest.keyClick(edit, Qt.Key.Key_A, CTRL)
    QTest.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, text)


def test_follow_up_after_run_again_makes_turn_two_and_the_line_says_so(qtbot, window):
    win = window
    assert intent(win) == "Generate: the first turn of a conversation."
    type_prompt(qtbot, win, "Sort 4 9 2")
    generate_with_keys(qtbot, win)
    ws = win.workspace
    first = ws.conversation.current
    qtbot.mouseClick(win.w.conversation.rerun_button, LEFT)  # "Run again…" on turn 1
    assert "branch 2 of turn 1" in intent(win) and win.prompt_panel.cancel_branch.isVisible()
    retype_prompt(qtbot, win, "Sort 7 1")
    assert "branch 2 of turn 1" in intent(win)  # editing the question keeps the branch, and says so
    QTest.keyClick(win.prompt_panel.user_edit, Qt.Key.Key_N, CTRL | Qt.KeyboardModifier.ShiftModifier)  # Follow up
    assert win.prompt_panel.follow_box.isChecked() and win.generation.follow_up_action.isChecked()
    assert intent(win).startswith("Generate: turn 2, a follow-up to turn 1")
    assert not win.prompt_panel.cancel_branch.isVisible()
    generate_with_keys(qtbot, win)
    node = ws.conversation.turns[ws.conversation.current]
    assert node.user == "Sort 7 1" and node.parent == first  # turn 2, not a branch of turn 1
    assert [row.text for row in win.w.conversation.rows()] == ["Sort 4 9 2", "Sort 7 1"]
    assert intent(win).startswith("Generate: turn 3, a follow-up to turn 2")


def test_a_branch_can_be_cancelled_and_unticking_follow_up_starts_a_new_conversation(qtbot, window):
    win = window
    type_prompt(qtbot, win, "Sort 4 9 2")
    generate_with_keys(qtbot, win)
    qtbot.mouseClick(win.w.conversation.rerun_button, LEFT)
    generate_with_keys(qtbot, win)  # a real branch: the line said so, and it is one
    ws = win.workspace
    assert [(row.branch, row.branches) for row in win.w.conversation.rows()] == [(2, 2)]
    qtbot.mouseClick(win.w.conversation.rerun_button, LEFT)
    assert "branch 3 of turn 1" in intent(win)
    qtbot.mouseClick(win.prompt_panel.cancel_branch, LEFT)
    assert intent(win).startswith("Generate: a new conversation (branch 3 of turn 1)")
    assert ws.draft.branch_of is None
    qtbot.mouseClick(win.prompt_panel.follow_box, LEFT)  # the box beside the prompt ticks the menu's action
    assert win.generation.follow_up_action.isChecked() and intent(win).startswith("Generate: turn 2")

"""File → Export conversation as Markdown, as a person uses it (issue 20, section 4, defect 10): every branch is in
the file, under a heading that is not the file's name, and a Latin square's rows stay rows."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.window_helpers import focus_window, generate_with_keys, load, make_window, type_prompt


def test_markdown_export_holds_every_branch_and_keeps_line_breaks(qtbot, tmp_path, monkeypatch):
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, "")  # the demo model: it writes a Latin square as four rows
    win.sampler_panel.random_box.setChecked(False)
    win.sampler_panel.seed_spin.setValue(2)
    type_prompt(qtbot, win, "Write a 4x4 Latin square.")
    generate_with_keys(qtbot, win)
    square = win.output.answer()
    assert square.count("\n") >= 3
    qtbot.mouseClick(win.w.conversation.rerun_button, Qt.MouseButton.LeftButton)  # "Run again…": a second branch
    edit = win.prompt_panel.user_edit
    edit.setFocus()
    QTest.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(edit, "Sort 4 9 2 7 5")
    generate_with_keys(qtbot, win)
    win.workspace.name = str(tmp_path / "work.ddsession")  # as if saved under that name
    target = tmp_path / "conversation.md"
    monkeypatch.setattr("app.controllers.session_controller.save_file_name",
                        lambda *args, **kwargs: str(target))  # the name typed in the dialog
    focus_window(qtbot, win)
    QTest.keyClick(win, Qt.Key.Key_F, Qt.KeyboardModifier.AltModifier)  # the File menu
    qtbot.waitUntil(lambda: QApplication.activePopupWidget() is not None)
    QTest.keyClick(QApplication.activePopupWidget(), Qt.Key.Key_M)  # Export conversation as &Markdown…
    qtbot.waitUntil(target.exists)
    text = target.read_text()
    first_line = text.splitlines()[0]
    assert first_line == "# Conversation" and "work.ddsession" not in first_line
    assert "*Session: work.ddsession · Model: demo model*" in text
    assert "## 1. Write a 4x4 Latin square. · branch 1 of 2" in text  # the branch not on screen is there too
    assert "## 1. Sort 4 9 2 7 5 · branch 2 of 2 · on screen" in text
    rows = square.strip().split("\n")
    assert "  \n".join(rows) in text  # hard breaks: the rows render as rows
    html = pytest.importorskip("markdown_it").MarkdownIt().render(text)  # as a Markdown viewer shows it
    assert "<br />".join(rows[:2]).replace("<br />", "<br />\n") in html

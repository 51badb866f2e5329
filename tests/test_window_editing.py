"""Editing in the window as a person does it: select, lock, type, re-denoise, rewrite, review, undo, sessions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest

from app.main_window import MainWindow
from widgets.editor_pane import Mode

TEXT = "The cat sat on the warm mat by the door. Then the dog came in and lay down beside it. The end."
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def window(qtbot, tmp_path, small_canvas_checkpoint):
    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(1300, 850)
    win.show()
    with qtbot.waitSignal(win.modelReady, timeout=60_000):
        win.load_model(str(small_canvas_checkpoint))
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    win.sampler_panel.spins["max_denoising_steps"].setValue(3)
    win.sampler_panel.random_box.setChecked(False)
    text = tmp_path / "story.txt"
    text.write_text(TEXT)
    assert win.files.open_text(str(text))
    assert win.edits.doc.text == TEXT and len(win.edits.doc.ids) > 2 * 16  # three canvases of 16
    yield win
    win.close()


def select_tokens(win: MainWindow, start: int, end: int) -> None:
    """Click before the first token's text, then Shift+Right to the end of the last: a keyboard selection."""
    tokens = win.edits.doc.token_text
    a, b = tokens.span_of(start)[0], tokens.span_of(end - 1)[1]
    edit = win.editor.text_edit
    edit.setFocus()
    cursor = edit.textCursor()
    cursor.setPosition(a)
    edit.setTextCursor(cursor)
    for _ in range(b - a):
        QTest.keyClick(edit, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert win.editor.token_selection() == (start, end)


def wait_for_review(qtbot, win: MainWindow) -> None:
    qtbot.waitUntil(lambda: win.editor.mode() == Mode.REVIEW and not win.runner.busy, timeout=60_000)


def test_ctrl_r_re_denoises_only_the_selection_across_a_canvas_boundary(qtbot, window):
    before = window.edits.doc.ids.copy()
    previews = []
    original = window.editor.preview
    window.editor.preview = lambda doc, span: (previews.append(span), original(doc, span))
    select_tokens(window, 10, 22)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    assert previews and set(previews) == {(10, 22)}  # the span changed in place while it denoised
    snapshots = [s for c in window.record.canvas_indices for s in window.record.steps(c)]
    assert {s.canvas_index for s in snapshots} == {0, 1}
    for snap in snapshots:  # the grid animates only the span's cells
        cells = np.arange(16) + 16 * snap.canvas_index
        assert (snap.editable == ((cells >= 10) & (cells < 22))).all()
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Return)
    after = window.edits.doc.ids
    assert (after[:10] == before[:10]).all() and (after[22:] == before[22:]).all()
    assert (after[10:22] != before[10:22]).any()
    assert window.output.answer() == window.edits.doc.text.strip()


def test_locks_hold_and_undo_redo_walk_back_and_forth(qtbot, window):
    before = window.edits.doc.ids.copy()
    select_tokens(window, 3, 6)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_L, CTRL)
    assert window.edits.doc.locks == {3, 4, 5}
    select_tokens(window, 0, 12)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Return)
    edited = window.edits.doc.ids.copy()
    assert (edited[3:6] == before[3:6]).all() and (edited[12:] == before[12:]).all()
    assert (edited[:12] != before[:12]).any()
    undo = window.edits.undo_stack
    undo.undo()  # Ctrl+Z: the accepted change
    assert (window.edits.doc.ids == before).all() and window.edits.doc.locks == {3, 4, 5}
    undo.undo()  # the lock
    assert window.edits.doc.locks == frozenset()
    undo.redo()
    undo.redo()
    assert (window.edits.doc.ids == edited).all() and window.edits.doc.locks == {3, 4, 5}


def test_ctrl_z_from_the_editor_undoes(qtbot, window):
    select_tokens(window, 0, 2)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_L, CTRL)
    assert window.edits.doc.locks == {0, 1}
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Z, CTRL)
    assert window.edits.doc.locks == frozenset()


def test_typed_text_is_locked_and_fill_around_keeps_it(qtbot, window):
    edit = window.editor.text_edit
    edit.setFocus()
    cursor = edit.textCursor()
    cursor.setPosition(TEXT.index(" by the door"))
    edit.setTextCursor(cursor)
    qtbot.keyClicks(edit, " softly")
    doc = window.edits.doc
    assert "mat softly by" in doc.text
    typed = sorted(doc.locks)
    assert typed and "softly" in "".join(doc.token_text.piece(i) for i in typed)
    typed_ids = doc.ids[typed].copy()
    QTest.keyClick(edit, Qt.Key.Key_F, CTRL | Qt.KeyboardModifier.ShiftModifier)
    wait_for_review(qtbot, window)
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert (window.edits.doc.ids[typed] == typed_ids).all()
    assert window.edits.doc.locks == frozenset(typed)


def test_escape_rejects_a_proposal(qtbot, window):
    before = window.edits.doc
    select_tokens(window, 2, 8)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Escape)
    assert window.edits.doc is before and window.editor.mode() == Mode.NORMAL
    assert window.editor.text_edit.toPlainText() == TEXT


def test_accepting_hunk_by_hunk_and_try_again(qtbot, window, monkeypatch):
    monkeypatch.setattr("app.edit_controller.random.randrange", lambda n: 12345)  # Try again's new seed, fixed
    select_tokens(window, 12, 18)  # a locked run in the middle splits any change into hunks on both sides
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_L, CTRL)
    select_tokens(window, 0, 30)
    window.sampler_panel.seed_spin.setValue(3)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    first = window.edits.proposal.new_ids.copy()
    window.editor.retry_button.click()  # Try again: the same span, another seed
    wait_for_review(qtbot, window)
    proposal = window.edits.proposal.new_ids.copy()
    assert not np.array_equal(first, proposal)
    before = window.edits.doc
    assert window.editor.hunk_list.count() >= 2
    window.editor.set_hunk_accepted(0, False)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Return)
    doc = window.edits.doc
    assert doc.text != before.text and doc.text != window.edits.doc.with_ids(proposal).text
    # Hunks may change lengths, so the locked tokens can move; they keep their locks and their ids.
    assert len(doc.locks) == 6 and [int(doc.ids[i]) for i in sorted(doc.locks)] == before.ids[12:18].tolist()


def test_rewrite_by_instruction_streams_into_the_selection(qtbot, window):
    tokens = window.edits.doc.token_text
    start, end = tokens.tokens_for_chars(TEXT.index("Then"), TEXT.index(" The end."))
    select_tokens(window, start, end)
    previews = []
    original = window.editor.preview
    window.editor.preview = lambda doc, span: (previews.append(doc.text), original(doc, span))
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_K, CTRL)
    assert window.editor.instruction_edit.isVisible()
    qtbot.keyClicks(window.editor.instruction_edit, "make it more formal")
    QTest.keyClick(window.editor.instruction_edit, Qt.Key.Key_Return)
    wait_for_review(qtbot, window)
    assert previews  # the replacement streamed into place
    a, b = tokens.span_of(start)[0], tokens.span_of(end - 1)[1]
    assert all(p.startswith(TEXT[:a]) and p.endswith(TEXT[b:]) for p in previews)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Return)
    text = window.edits.doc.text
    assert text.startswith(TEXT[:a]) and text.endswith(TEXT[b:])


def test_grid_and_editor_share_the_selection_and_ctrl_click_locks(qtbot, window):
    select_tokens(window, 0, 4)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Return)
    grid = window.grid
    assert grid.snapshot().canvas_index == 0
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_rect(5).center().toPoint())
    assert window.editor.token_selection() == (5, 6)
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=grid.cell_rect(7).center().toPoint())
    assert 7 in window.edits.doc.locks
    assert grid.snapshot().locked[7]  # the grid marks the lock too
    select_tokens(window, 1, 3)
    assert grid.selection() == (1, 3)


def test_sessions_round_trip_through_the_window(qtbot, window, tmp_path, small_canvas_checkpoint):
    select_tokens(window, 1, 3)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_L, CTRL)
    path = tmp_path / "session.json"
    assert window.files.save_session_to(str(path))
    saved = json.loads(path.read_text())
    assert saved["locks"] == [1, 2] and saved["token_ids"] == window.edits.doc.ids.tolist()
    with qtbot.waitSignal(window.errorShown) as blocker:
        assert not window.files.save_session_to(str(tmp_path / "missing-folder" / "s.json"))
    assert "cannot write" in blocker.args[0]
    assert not (tmp_path / "missing-folder").exists()
    window.edits.reset(window.edits.empty_document())
    assert window.files.open_session(str(path))
    assert window.edits.doc.text == TEXT and window.edits.doc.locks == {1, 2}


def test_an_impossible_edit_says_why(qtbot, window):
    select_tokens(window, 0, 3)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_L, CTRL)
    select_tokens(window, 0, 3)
    with qtbot.waitSignal(window.errorShown) as blocker:
        QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    assert "locked" in blocker.args[0] and not window.runner.busy
    assert window.editor.mode() == Mode.NORMAL

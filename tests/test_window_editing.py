"""Editing in the window as a person does it: select, lock, type, re-denoise, rewrite, review, undo, sessions."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from models.work.runs import Fate
from tests.window_helpers import close_quietly, focus_window, last_run, load, make_window
from widgets.editor.editor_pane import Mode

TEXT = "The cat sat on the warm mat by the door. Then the dog came in and lay down beside it. The end."
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def window(qtbot, tmp_path, small_canvas_checkpoint):
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, small_canvas_checkpoint)
    focus_window(qtbot, win)
    win.sampler_panel.spins["max_denoising_steps"].setValue(3)
    win.sampler_panel.random_box.setChecked(False)
    text = tmp_path / "story.txt"
    text.write_text(TEXT)
    assert win.sessions.open_text(str(text))
    assert doc(win).text == TEXT and len(doc(win).ids) > 2 * 16  # three canvases of 16
    yield win
    close_quietly(win)


def doc(win):
    return win.workspace.document


def select_tokens(win, start: int, end: int) -> None:
    """Click before the first token's text, then Shift+Right to the end of the last: a keyboard selection."""
    tokens = doc(win).token_text
    a, b = tokens.span_of(start)[0], tokens.span_of(end - 1)[1]
    edit = win.editor.text_edit
    edit.setFocus()
    cursor = edit.textCursor()
    cursor.setPosition(a)
    edit.setTextCursor(cursor)
    for _ in range(b - a):
        QTest.keyClick(edit, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert win.editor.token_selection() == (start, end)


def wait_for_review(qtbot, win) -> None:
    qtbot.waitUntil(lambda: win.editor.mode() == Mode.REVIEW and not win.runner.busy, timeout=60_000)


def views_show_the_document(win) -> None:
    """What the grid, heatmap and statistics show is what the workspace holds."""
    ws = win.workspace
    assert ws.position.run is None
    canvas = ws.position.canvas
    np.testing.assert_array_equal(win.grid.snapshot().argmax, doc(win).ids[canvas * 16:(canvas + 1) * 16])
    assert sorted(np.flatnonzero(win.grid.snapshot().locked) + canvas * 16) == sorted(
        i for i in doc(win).locks if canvas * 16 <= i < (canvas + 1) * 16)
    source = ws.replay_run()
    history = source.steps(canvas) if source is not None else []
    assert len(win.heatmap.image_data()) == len(history)
    assert win.output.stats()["Text"].startswith(f"{doc(win).visible_count} tokens")
    assert win.editor.text_edit.toPlainText() == doc(win).text


def test_ctrl_r_re_denoises_only_the_selection_across_a_canvas_boundary(qtbot, window):
    before = doc(window).ids.copy()
    previews = []
    original = window.editor.preview
    window.editor.preview = lambda d, span: (previews.append(span), original(d, span))
    select_tokens(window, 10, 22)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    assert previews and set(previews) == {(10, 22)}  # the span changed in place while it denoised
    run = last_run(window)
    snapshots = [s for c in run.canvas_indices for s in run.steps(c)]
    assert {s.canvas_index for s in snapshots} == {0, 1}
    for snap in snapshots:  # the grid animates only the span's cells
        cells = np.arange(16) + 16 * snap.canvas_index
        assert (snap.editable == ((cells >= 10) & (cells < 22))).all()
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Return)
    after = doc(window).ids
    assert (after[:10] == before[:10]).all() and (after[22:] == before[22:]).all()
    assert (after[10:22] != before[10:22]).any()
    assert run.fate is Fate.ACCEPTED
    assert window.output.answer() == doc(window).text.strip()
    views_show_the_document(window)


def test_locks_hold_and_undo_redo_walk_back_and_forth_with_real_keys(qtbot, window):
    before = doc(window).ids.copy()
    select_tokens(window, 3, 6)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_L, CTRL)
    assert doc(window).locks == {3, 4, 5}
    select_tokens(window, 0, 12)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Return)
    edited = doc(window).ids.copy()
    assert (edited[3:6] == before[3:6]).all() and (edited[12:] == before[12:]).all()
    assert (edited[:12] != before[:12]).any()
    edit = window.editor.text_edit
    QTest.keyClick(edit, Qt.Key.Key_Z, CTRL)  # the accepted change
    assert (doc(window).ids == before).all() and doc(window).locks == {3, 4, 5}
    QTest.keyClick(window.grid, Qt.Key.Key_Z, CTRL)  # the lock, from the grid
    assert doc(window).locks == frozenset()
    shift = CTRL | Qt.KeyboardModifier.ShiftModifier
    QTest.keyClick(edit, Qt.Key.Key_Z, shift)  # Ctrl+Shift+Z from the editor: one binding, no ambiguity
    assert doc(window).locks == {3, 4, 5}
    QTest.keyClick(window.grid, Qt.Key.Key_Y, CTRL)  # Ctrl+Y from the grid
    assert (doc(window).ids == edited).all() and doc(window).locks == {3, 4, 5}
    views_show_the_document(window)
    # In the prompt box, Ctrl+Z undoes the typing there, as in any text field, and leaves the document alone.
    prompt = window.prompt_panel.user_edit
    prompt.setFocus()
    qtbot.keyClicks(prompt, "abc")
    QTest.keyClick(prompt, Qt.Key.Key_Z, CTRL)
    assert prompt.toPlainText() == "" and (doc(window).ids == edited).all()


def test_typed_text_is_locked_and_fill_around_keeps_it(qtbot, window):
    edit = window.editor.text_edit
    edit.setFocus()
    cursor = edit.textCursor()
    cursor.setPosition(TEXT.index(" by the door"))
    edit.setTextCursor(cursor)
    qtbot.keyClicks(edit, " softly")
    d = doc(window)
    assert "mat softly by" in d.text
    typed = sorted(d.locks)
    assert typed and "softly" in "".join(d.token_text.piece(i) for i in typed)
    typed_ids = d.ids[typed].copy()
    QTest.keyClick(edit, Qt.Key.Key_F, CTRL | Qt.KeyboardModifier.ShiftModifier)
    wait_for_review(qtbot, window)
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert (doc(window).ids[typed] == typed_ids).all()
    assert doc(window).locks == frozenset(typed)


def test_escape_rejects_a_proposal_and_every_view_shows_the_text_again(qtbot, window):
    before = doc(window)
    select_tokens(window, 2, 8)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    assert window.workspace.position.run == last_run(window).id  # the proposal's steps are on screen
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Escape)
    assert doc(window) is before and window.editor.mode() == Mode.NORMAL
    assert last_run(window).fate is Fate.REJECTED
    views_show_the_document(window)
    # The rejected proposal is kept, labelled, and replays when clicked.
    rows = window.w.runs.rows()
    assert any("rejected" in row.label for row in rows)
    window.w.runs.runChosen.emit(last_run(window).id)
    assert window.grid.snapshot() is last_run(window).steps(last_run(window).canvas_indices[-1])[-1]


def test_accepting_hunk_by_hunk_and_try_again(qtbot, window, monkeypatch):
    # Try again's new seed, fixed
    monkeypatch.setattr("app.controllers.edit_controller.random.randrange", lambda n: 12345)
    select_tokens(window, 12, 18)  # a locked run in the middle splits any change into hunks on both sides
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_L, CTRL)
    select_tokens(window, 0, 30)
    window.sampler_panel.seed_spin.setValue(3)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    first = window.workspace.runs[window.workspace.review].proposal_ids.copy()
    window.editor.retry_button.click()  # Try again: the same span, another seed
    wait_for_review(qtbot, window)
    proposal = window.workspace.runs[window.workspace.review].proposal_ids.copy()
    assert not np.array_equal(first, proposal)
    before = doc(window)
    assert window.editor.hunk_list.count() >= 2
    window.editor.set_hunk_accepted(0, False)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Return)
    d = doc(window)
    assert d.text != before.text and d.text != before.with_ids(proposal).text
    assert last_run(window).fate is Fate.PARTIAL and 0 not in last_run(window).accepted_hunks
    # Hunks may change lengths, so the locked tokens can move; they keep their locks and their ids.
    assert len(d.locks) == 6 and [int(d.ids[i]) for i in sorted(d.locks)] == before.ids[12:18].tolist()
    views_show_the_document(window)


def test_rewrite_by_instruction_streams_into_the_selection(qtbot, window):
    tokens = doc(window).token_text
    start, end = tokens.tokens_for_chars(TEXT.index("Then"), TEXT.index(" The end."))
    select_tokens(window, start, end)
    previews = []
    original = window.editor.preview
    window.editor.preview = lambda d, span: (previews.append(d.text), original(d, span))
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_K, CTRL)
    assert window.editor.instruction_edit.isVisible()
    qtbot.keyClicks(window.editor.instruction_edit, "make it more formal")
    QTest.keyClick(window.editor.instruction_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60_000)
    assert previews  # the replacement streamed into place
    a, b = tokens.span_of(start)[0], tokens.span_of(end - 1)[1]
    assert all(p.startswith(TEXT[:a]) and p.endswith(TEXT[b:]) for p in previews)
    if window.editor.mode() == Mode.REVIEW:
        QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Return)
    text = doc(window).text
    assert text.startswith(TEXT[:a]) and text.endswith(TEXT[b:])


def test_grid_and_editor_share_the_selection_and_ctrl_click_locks(qtbot, window):
    grid = window.grid
    assert grid.snapshot().canvas_index == 0
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_rect(5).center().toPoint())
    assert window.editor.token_selection() == (5, 6)
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=grid.cell_rect(7).center().toPoint())
    assert 7 in doc(window).locks
    assert grid.snapshot().locked[7]  # the grid marks the lock too
    select_tokens(window, 1, 3)
    assert grid.selection() == (1, 3)


def test_an_impossible_edit_says_why_in_the_status_bar(qtbot, window):
    select_tokens(window, 0, 3)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_L, CTRL)
    select_tokens(window, 0, 3)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    assert "locked" in window.statusBar().currentMessage() and not window.runner.busy
    assert window.editor.mode() == Mode.NORMAL and not window.workspace.runs


def test_enter_and_escape_answer_a_review_from_the_grid(qtbot, window):
    select_tokens(window, 2, 8)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    first = last_run(window)
    QTest.keyClick(window.grid, Qt.Key.Key_Escape)
    assert first.fate is Fate.REJECTED and window.workspace.review is None
    select_tokens(window, 2, 8)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    proposal = window.workspace.runs[window.workspace.review].proposal_ids.copy()
    QTest.keyClick(window.grid, Qt.Key.Key_Return)
    assert last_run(window).fate is Fate.ACCEPTED and (doc(window).ids == proposal).all()
    views_show_the_document(window)


def test_save_new_and_open_show_what_the_workspace_holds(qtbot, window, tmp_path):
    select_tokens(window, 1, 3)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_L, CTRL)
    views_show_the_document(window)  # opened text: its own canvas, no heatmap, its statistics
    assert window.isWindowModified() and "story" not in window.windowTitle()
    path = tmp_path / "story.ddsession"
    with qtbot.waitSignal(window.sessions.writer.written, timeout=30_000):
        assert window.sessions._start_save(str(path))
    assert not window.isWindowModified() and window.windowTitle().startswith("story.ddsession")
    before = doc(window)
    assert window.sessions.new_session()  # nothing unsaved: no question
    assert window.workspace.document is None and window.w.canvas_stack.currentWidget() is window.w.welcome_page
    assert window.grid.snapshot() is None and len(window.heatmap.image_data()) == 0
    assert window.output.answer() == "" and window.output.stats() == {}
    assert window.sessions.open_path(str(path))
    assert doc(window).same_as(before) and doc(window).locks == {1, 2}
    assert window.w.canvas_stack.currentWidget() is window.canvas
    views_show_the_document(window)


def test_two_runs_compare_side_by_side(qtbot, window):
    for seed in (4, 5):
        window.sampler_panel.seed_spin.setValue(seed)
        select_tokens(window, 0, 12)
        QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
        wait_for_review(qtbot, window)
        QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Escape)
    first, second = sorted(window.workspace.runs)[-2:]
    rows = window.w.runs.list
    for row in range(rows.count()):
        rows.item(row).setSelected(rows.item(row).data(Qt.ItemDataRole.UserRole).run_id in (first, second))
    assert window.w.runs.compare_button.isEnabled()
    qtbot.mouseClick(window.w.runs.compare_button, Qt.MouseButton.LeftButton)
    from app.shell.compare_window import CompareWindow

    compare = window.findChild(CompareWindow)
    assert compare is not None and compare.isVisible()
    comparison = compare.comparison()
    a, b = window.workspace.runs[first], window.workspace.runs[second]
    np.testing.assert_array_equal(compare.grids[0].snapshot().argmax, a.steps(comparison.canvas)[-1].argmax)
    np.testing.assert_array_equal(compare.grids[1].snapshot().argmax, b.steps(comparison.canvas)[-1].argmax)
    differ = a.steps(comparison.canvas)[-1].argmax != b.steps(comparison.canvas)[-1].argmax
    assert compare.grids[0].highlighted() == np.flatnonzero(differ).tolist()
    for position, first_step in enumerate(comparison.divergence):  # the divergence map: first step they differ
        drafts = [(x.argmax[position], y.argmax[position]) for x, y in zip(a.steps(comparison.canvas),
                                                                           b.steps(comparison.canvas), strict=False)]
        expected = next((s for s, (x, y) in enumerate(drafts) if x != y), -1)
        assert first_step == expected
    compare.slider.setValue(0)
    assert compare.grids[0].snapshot() is a.steps(comparison.canvas)[0]
    compare.close()


def test_the_selection_lives_in_the_workspace_and_ctrl_r_runs_what_it_holds(qtbot, window):
    """One path from a key to the engine: the views only edit the workspace's selection, and the edit reads it."""
    ws, grid = window.workspace, window.grid
    select_tokens(window, 2, 6)
    assert ws.selection == (2, 6) and grid.selection() == (2, 6)
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_rect(9).center().toPoint())
    assert ws.selection == (9, 10) and window.editor.token_selection() == (9, 10)
    ws.set_selection((12, 20))  # as a script or a restored state would: both views show it, the grid its canvas
    assert window.editor.token_selection() == (12, 20) and grid.selection() == (12, 16)
    window.edits.actions["redenoise"].trigger()
    wait_for_review(qtbot, window)
    assert last_run(window).span == (12, 20)


def test_a_run_waits_for_valid_settings_and_the_panel_keeps_what_was_typed(qtbot, window):
    ws, panel = window.workspace, window.sampler_panel
    assert panel.sampler() == "entropy-bound"  # the default, whose temperature falls from t_max to t_min
    kept = ws.settings
    panel.spins["t_min"].setValue(panel.spins["t_max"].value())  # t_max must stay above t_min
    assert "t_max must be greater than t_min" in ws.settings_problem and ws.settings == kept
    assert panel.spins["t_min"].value() == panel.spins["t_max"].value()  # not put back while the user types
    select_tokens(window, 2, 6)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    assert "Invalid sampler settings" in window.statusBar().currentMessage() and not ws.runs
    panel.spins["t_min"].setValue(0.0)
    assert ws.settings_problem == "" and ws.settings.t_min == 0.0
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_R, CTRL)
    wait_for_review(qtbot, window)
    assert last_run(window).settings.t_min == 0.0

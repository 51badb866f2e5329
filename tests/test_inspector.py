"""The token inspector, driven as a person would: click a cell, scrub, arrow keys, pick a candidate, fill around."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from models.canvas.inspection import settled_step
from tests.window_helpers import (
    fixed_seed,
    focus_window,
    generate_with_keys,
    last_run,
    load,
    make_window,
    set_spin,
    type_prompt,
)
from widgets.editor.editor_pane import Mode


@pytest.fixture
def window(qtbot, tmp_path, small_canvas_checkpoint):
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, small_canvas_checkpoint)
    type_prompt(qtbot, win, "Tell me")
    set_spin(win, "max_new_tokens", 32)
    set_spin(win, "max_denoising_steps", 4)
    set_spin(win, "top_k", 5)
    fixed_seed(win, 2)
    generate_with_keys(qtbot, win)
    return win


def click_cell(qtbot, win, position: int) -> None:
    qtbot.mouseClick(win.grid, Qt.MouseButton.LeftButton, pos=win.grid.cell_rect(position).center().toPoint())


def test_a_clicked_cell_shows_its_candidates_and_follows_the_scrubber(qtbot, window):
    run = last_run(window)
    canvas = window.workspace.position.canvas
    steps = run.steps(canvas)
    click_cell(qtbot, window, 3)
    inspector = window.w.inspector
    assert window.w.side_tabs.currentWidget() is window.w.inspector_tab
    shown = inspector.shown
    assert shown.position == 3 and shown.step == -1  # the text itself, with its last step's candidates
    np.testing.assert_array_equal([c.token_id for c in shown.candidates], steps[-1].top_ids[3])
    np.testing.assert_allclose([c.probability for c in shown.candidates], steps[-1].top_probs[3])
    probabilities = [c.probability for c in shown.candidates]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-5
    assert len(shown.timeline.argmax) == len(steps)
    assert shown.timeline.settled == settled_step(shown.timeline.argmax, shown.timeline.accepted)
    # The scrubber moves the step: the inspector shows that step's candidates.
    window.replay.slider.setFocus()
    QTest.keyClick(window.replay.slider, Qt.Key.Key_Home)
    QTest.keyClick(window.replay.slider, Qt.Key.Key_Right)
    assert inspector.shown.step == 1
    np.testing.assert_array_equal([c.token_id for c in inspector.shown.candidates], steps[1].top_ids[3])
    # Arrow keys in the inspector move between positions, and the grid's selection follows.
    inspector.setFocus()
    QTest.keyClick(inspector, Qt.Key.Key_Right)
    assert inspector.shown.position == 4 and window.grid.selection() == (4, 5)
    QTest.keyClick(inspector, Qt.Key.Key_Left)
    assert inspector.shown.position == 3


def test_arrow_keys_in_the_grid_move_the_inspected_token(qtbot, window):
    focus_window(qtbot, window)
    click_cell(qtbot, window, 3)
    grid, inspector = window.grid, window.w.inspector
    assert grid.hasFocus()  # a click gives the grid the keys, not the prompt box
    QTest.keyClick(grid, Qt.Key.Key_Right)
    assert grid.selection() == (4, 5) and inspector.shown.position == 4
    columns = sum(1 for p in range(len(grid.snapshot().argmax))
                  if abs(grid.cell_rect(p).top() - grid.cell_rect(0).top()) < 1)
    QTest.keyClick(grid, Qt.Key.Key_Down)
    assert grid.selection() == (4 + columns, 5 + columns) and inspector.shown.position == 4 + columns
    QTest.keyClick(grid, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert grid.selection() == (3 + columns, 5 + columns)  # shift extends from where the selection started
    QTest.keyClick(grid, Qt.Key.Key_Up)
    assert grid.selection() == (3, 4)
    grid.setSelection(0, 1)
    QTest.keyClick(grid, Qt.Key.Key_Up)  # at the edge: nothing moves
    QTest.keyClick(grid, Qt.Key.Key_Left)
    assert grid.selection() == (0, 1) and window.workspace.draft.user == "Tell me"


def test_picking_a_candidate_locks_it_and_fill_around_keeps_it(qtbot, window):
    focus_window(qtbot, window)
    click_cell(qtbot, window, 5)
    inspector = window.w.inspector
    doc = window.workspace.document
    canvas = window.workspace.position.canvas
    index = canvas * doc.canvas_length + 5
    second = inspector.shown.candidates[1].token_id
    inspector.setFocus()
    QTest.keyClick(inspector, Qt.Key.Key_Down)  # the second candidate
    QTest.keyClick(inspector, Qt.Key.Key_Return)
    doc = window.workspace.document
    assert doc.ids[index] == second and index in doc.locks
    assert window.workspace.undo.undo_label() == "Pick a candidate"
    assert inspector.fill_button.isEnabled()
    qtbot.mouseClick(inspector.fill_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.editor.mode() == Mode.REVIEW and not window.runner.busy, timeout=60_000)
    QTest.keyClick(window.editor.text_edit, Qt.Key.Key_Return)  # accept the fill
    doc = window.workspace.document
    assert doc.ids[index] == second and index in doc.locks  # the lock held through the fill
    QTest.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the fill
    QTest.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the pick
    assert window.workspace.document.ids[index] == window.workspace.runs[1].result.token_ids[index]  # as generated
    assert index not in window.workspace.document.locks


def test_candidates_of_probability_zero_are_left_out():
    """At a locked position the distribution is one-hot: the other ids of its top-k are arbitrary ties."""
    from models.canvas.inspection import candidates
    from models.work.events import StepSnapshot

    n = 2
    snap = StepSnapshot(0, 0, np.array([7, 3]), np.ones(n, bool), np.zeros(n, np.float32), np.array([True, False]),
                        np.ones(n, bool), 0.0, n, 1.0, 0.0, top_ids=np.array([[7, 0, 1], [3, 4, 5]]),
                        top_probs=np.array([[1.0, 0.0, 0.0], [0.6, 0.3, 1e-9]], np.float32))
    assert [(c.token_id, c.probability) for c in candidates(snap, 0)] == [(7, 1.0)]
    assert [c.token_id for c in candidates(snap, 1)] == [3, 4, 5]

"""What the canvas views and the inspector say, as a person meets them (issue 20, section 4, defects 7, 8 and 12)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.test_inspector import click_cell, window  # noqa: F401 - the fixture: a generated canvas, top-5 recorded
from tests.window_helpers import focus_window


def test_after_use_this_token_the_inspector_header_and_list_agree(qtbot, window):  # noqa: F811
    focus_window(qtbot, window)
    click_cell(qtbot, window, 5)
    inspector = window.w.inspector
    before = inspector.shown
    assert before.replaced is None and "which wrote this token" in inspector.candidates_title.text()
    assert inspector.candidates.current == [c.token_id for c in before.candidates].index(before.token_id)
    second = before.candidates[1].token_id
    inspector.setFocus()
    QTest.keyClick(inspector, Qt.Key.Key_Down)
    QTest.keyClick(inspector, Qt.Key.Key_Return)  # "Use this token"
    after = inspector.shown
    assert after.token_id == second and after.replaced == before.token_id
    header, title = inspector.header.text(), inspector.candidates_title.text()
    name = inspector.candidates.token_text
    assert f"(id {second})" in header
    assert "your choice" in title and "where the model had" in title
    assert inspector.candidates.items[inspector.candidates.current].token_id == second  # the row of the header's token
    QTest.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo: the model's token again
    assert inspector.shown.replaced is None and "your choice" not in inspector.candidates_title.text()
    assert name(inspector.shown.token_id) == name(before.token_id)


def click_run(qtbot, win, run_id: int) -> None:
    runs = win.w.runs.list
    items = [runs.item(i) for i in range(runs.count())]
    item = next(i for i in items if i.data(Qt.ItemDataRole.UserRole).run_id == run_id)
    qtbot.mouseClick(runs.viewport(), Qt.MouseButton.LeftButton, pos=runs.visualItemRect(item).center())


def test_the_last_step_of_a_committed_canvas_is_drawn_settled_not_as_drafts(qtbot, window):  # noqa: F811
    from tests.window_helpers import last_run

    run = last_run(window)
    canvas = 0  # the Runs list opens a run at its first canvas
    steps = run.steps(canvas)
    assert not steps[-1].accepted.all()  # the sampler renoised some cells at the budget's last step (random model)
    assert run.record.canvases[canvas].committed is not None
    focus_window(qtbot, window)
    click_run(qtbot, window, run.id)  # the run's last step on screen, as the Runs list shows it
    assert window.workspace.position.run == run.id and window.grid.snapshot() is steps[-1]
    frame = window.grid.frame()
    assert not frame.renoised.any() and not (frame.variants % 2).any()  # no dim italic draft among the text
    assert not window.canvas.text.frame().renoised.any()  # the text view agrees
    slider = window.replay.slider
    slider.setFocus()
    QTest.keyClick(slider, Qt.Key.Key_Left)  # one step back: the drafts of that step are drafts again
    assert window.workspace.position.step == len(steps) - 2
    assert window.grid.frame().renoised.any() == (not steps[-2].accepted.all())


def test_opened_text_is_drawn_as_unknown_entropy_not_as_guessing(qtbot, tmp_path, small_canvas_checkpoint):
    import numpy as np

    from tests.test_window_editing import select_tokens, wait_for_review
    from tests.window_helpers import load, make_window
    from widgets.canvas import colors
    from widgets.canvas.legend import UNKNOWN

    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, small_canvas_checkpoint)
    focus_window(qtbot, win)
    win.sampler_panel.spins["max_denoising_steps"].setValue(2)
    notes = tmp_path / "notes.txt"
    notes.write_text("The cat sat on the mat.")
    assert win.sessions.open_text(str(notes))
    grey = np.array(colors.NO_VALUE_RGB)
    frame = win.grid.frame()
    assert (frame.background == grey).all()  # no number: grey, not the top of the scale (yellow, "guessing")
    assert UNKNOWN in [name for name, _ in win.grid._legend.items]
    assert "entropy unknown" in win.grid.tooltip_text(0)
    rect = win.grid.cell_rect(0)

    def painted_grey() -> bool:  # the grid draws cells over a pass or two after a change: grab until it has
        image = win.grid.grab().toImage()
        return image.pixelColor(int(rect.left() + 3), int(rect.center().y())).getRgb()[:3] == colors.NO_VALUE_RGB

    qtbot.waitUntil(painted_grey, timeout=5_000)
    select_tokens(win, 0, 3)
    QTest.keyClick(win.editor.text_edit, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    wait_for_review(qtbot, win)
    QTest.keyClick(win.editor.text_edit, Qt.Key.Key_Return)  # the model re-denoised 0:3: those have an entropy now
    frame = win.grid.frame()
    assert not (frame.background[:3] == grey).all(axis=1).any() and (frame.background[3:] == grey).all()


def test_ctrl_k_offers_the_demo_models_own_instructions_before_any_typing(qtbot, tmp_path):
    from models.training.rewrites import REWRITE_INSTRUCTIONS
    from models.work.runs import RunKind
    from tests.window_helpers import generate_with_keys, last_run, load, make_window, type_prompt

    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, "")  # the demo model
    type_prompt(qtbot, win, "Sort 4 9 2 7 5")
    generate_with_keys(qtbot, win)
    win.w.bottom_tabs.setCurrentWidget(win.editor)
    edit = win.editor.text_edit
    edit.setFocus()
    QTest.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(edit, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    box = win.editor.instruction_edit
    assert box.isVisible() and box.text() == ""
    placeholder = box.placeholderText()
    assert "Reverse" in placeholder and "formal" not in placeholder and "French" not in placeholder
    popup = box.completer().popup()
    assert popup.isVisible()  # the model's own instructions, before a key is typed
    shown = [popup.model().index(row, 0).data() for row in range(popup.model().rowCount())]
    assert shown == list(REWRITE_INSTRUCTIONS)
    qtbot.keyClicks(box, "Rev")
    assert [popup.model().index(r, 0).data() for r in range(popup.model().rowCount())] == ["Reverse"]
    qtbot.keyClicks(box, "erse")
    QTest.keyClick(box, Qt.Key.Key_Return)  # sends it, drop-down open or not
    qtbot.waitUntil(lambda: not win.runner.busy and last_run(win).kind is RunKind.REWRITE, timeout=60_000)
    assert last_run(win).instruction == "Reverse"


def test_a_click_on_the_scrubbers_groove_goes_to_the_step_clicked(qtbot, tmp_path, small_canvas_checkpoint):
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QStyle, QStyleOptionSlider

    from tests.window_helpers import generate_with_keys, last_run, load, make_window, set_spin, type_prompt

    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, small_canvas_checkpoint)
    set_spin(win, "max_new_tokens", 16)
    set_spin(win, "max_denoising_steps", 20)
    type_prompt(qtbot, win, "Tell me")
    generate_with_keys(qtbot, win)
    run = last_run(win)
    click_run(qtbot, win, run.id)
    steps = len(run.steps(0))
    assert steps == 20 and win.workspace.position.step == steps - 1
    slider = win.replay.slider

    def x_of(step: int) -> int:
        option = QStyleOptionSlider()
        slider.initStyleOption(option)
        style, cc = slider.style(), QStyle.ComplexControl.CC_Slider
        groove = style.subControlRect(cc, option, QStyle.SubControl.SC_SliderGroove, slider)
        handle = style.subControlRect(cc, option, QStyle.SubControl.SC_SliderHandle, slider)
        span = groove.width() - handle.width()
        return groove.x() + handle.width() // 2 + QStyle.sliderPositionFromValue(0, slider.maximum(), step, span)

    for target in (3, 11, 0):  # far from the handle: a page step (5) would land elsewhere
        qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(x_of(target), slider.height() // 2))
        assert win.workspace.position.step == target and win.grid.snapshot() is run.steps(0)[target]

"""TokenGrid: colours, glyphs, history statistics, tooltip and selection, driven through the widget."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QColor, QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip
from qt_helpers import shown

from models.canvas.overlays import CanvasHistory, Overlay
from models.work.events import StepSnapshot
from widgets.canvas import colors
from widgets.canvas.grid_cells import CellFrame, format_token, grid_shape
from widgets.canvas.token_grid import TokenGrid

VOCAB = {0: "a", 1: "b", 2: "c", 3: "▁the", 4: "\n", 5: " ", 6: "<eos>"}


def snap(step: int, argmax, entropy=None, accepted=None, locked=None, editable=None) -> StepSnapshot:
    argmax = np.asarray(argmax, dtype=np.int64)
    n = len(argmax)
    entropy = np.full(n, 1.0, np.float32) if entropy is None else np.asarray(entropy, np.float32)
    accepted = np.zeros(n, bool) if accepted is None else np.asarray(accepted, bool)
    return StepSnapshot(
        canvas_index=0,
        step_index=step,
        argmax=argmax,
        accepted=accepted,
        entropy=entropy,
        locked=np.zeros(n, bool) if locked is None else np.asarray(locked, bool),
        editable=np.ones(n, bool) if editable is None else np.asarray(editable, bool),
        mean_entropy=float(entropy.mean()),
        num_accepted=int(accepted.sum()),
        temperature=0.5,
        elapsed=0.1 * step,
    )


def three_step_history(length: int = 64) -> list[StepSnapshot]:
    """Position 5 changes at steps 1 and 2, position 6 only at step 1, everything else never."""
    a0 = np.zeros(length, np.int64)
    a1 = a0.copy()
    a1[5], a1[6] = 1, 2
    a2 = a1.copy()
    a2[5] = 6
    entropy = np.linspace(0.0, 4.0, length, dtype=np.float32)
    accepted2 = np.zeros(length, bool)
    accepted2[[6, 7]] = True
    accepted1 = np.zeros(length, bool)
    accepted1[[7]] = True
    locked = np.zeros(length, bool)
    locked[9] = True
    return [
        snap(0, a0, entropy * 2),
        snap(1, a1, entropy * 1.5, accepted=accepted1, locked=locked),
        snap(2, a2, entropy, accepted=accepted2, locked=locked),
    ]


@pytest.fixture
def grid(qtbot):
    return shown(qtbot, TokenGrid(lambda i: VOCAB.get(i, f"tok{i}")), 640, 520)


def centre(widget: TokenGrid, position: int) -> QPoint:
    return widget.cell_rect(position).center().toPoint()


def test_format_token_shows_whitespace_as_glyphs():
    assert format_token(" ") == "·"
    assert format_token("▁the") == "·the"
    assert format_token("\n") == "⏎"
    assert format_token("a\tb\r\n") == "a→b␍⏎"
    assert format_token("") == "∅"
    assert format_token("\x00x") == "\\x00x"
    assert format_token("<eos>") == "<eos>"


def test_grid_shape_is_square_ish():
    assert grid_shape(256) == (16, 16)
    assert grid_shape(64) == (8, 8)
    assert grid_shape(10) == (3, 4)


def test_history_counts_changes_and_last_step():
    argmax = np.array([[1, 1, 1], [2, 1, 1], [3, 1, 4], [3, 1, 4]])
    history = CanvasHistory()
    history.update([snap(s, row) for s, row in enumerate(argmax)])
    expected_counts = [[0, 0, 0], [1, 0, 0], [2, 0, 1], [2, 0, 1]]
    expected_last = [[0, 0, 0], [1, 0, 0], [2, 0, 2], [2, 0, 2]]
    for step in range(4):
        counts, last = history.changes(step)
        np.testing.assert_array_equal(counts, expected_counts[step])
        np.testing.assert_array_equal(last, expected_last[step])
        np.testing.assert_array_equal(history.values(Overlay.REVISIONS, step), expected_counts[step])


def test_marks_split_accepted_into_new_and_stable():
    prev = snap(0, [1, 1, 1, 1], accepted=[True, True, False, True])
    now = snap(1, [1, 2, 1, 1], accepted=[True, True, True, False])
    marks = CellFrame.from_snapshots([prev, now], 1, max_entropy=4.0)
    np.testing.assert_array_equal(marks.stable, [True, False, False, False])  # same token, accepted both steps
    np.testing.assert_array_equal(marks.accepted_now, [False, True, True, False])  # token changed / newly accepted
    np.testing.assert_array_equal(marks.renoised, [False, False, False, True])


def test_outside_span_cells_fade_toward_the_window_and_keep_readable_text():
    top = colors.DEFAULT_MAX_ENTROPY  # yellow: black text when editable
    now = snap(0, [0, 0], entropy=[top, top], editable=[True, False])
    marks = CellFrame.from_snapshots([now], max_entropy=top, wash_rgb=(30, 30, 30))  # a dark theme's window
    assert tuple(marks.background[0].tolist()) == tuple(colors.LUT[-1].tolist())
    lightness = [QColor(*rgb).lightness() for rgb in marks.background.tolist()]
    assert lightness[1] < lightness[0] / 2
    assert marks.dark_text.tolist() == [True, False]  # black text on yellow, white on the washed-out cell


def test_cell_background_is_the_colormap_colour_of_its_entropy(grid, qtbot):
    length = 64
    entropy = np.full(length, 2.0, np.float32)
    entropy[[10, 20, 30]] = [0.1, 3.7, 9.0]  # 9.0 is above the 4-nat maximum: clipped to the top colour
    grid.show_step([snap(0, np.zeros(length), entropy)])
    image = grid.grab().toImage()
    for position in (10, 20, 30):
        rect = grid.cell_rect(position)
        # Left of the centred one-letter token and clear of the corner marks.
        pixel = QColor(image.pixel(int(rect.left() + rect.width() * 0.15), int(rect.center().y())))
        expected = colors.entropy_to_rgb(entropy[position : position + 1])[0]
        got = np.array([pixel.red(), pixel.green(), pixel.blue()])
        assert np.abs(got - expected.astype(int)).max() <= 2, (position, got, expected)
    low = colors.entropy_to_rgb(np.array([0.1]))[0]
    high = colors.entropy_to_rgb(np.array([3.7]))[0]
    assert np.abs(low.astype(int) - high.astype(int)).sum() > 200  # the two cells really differ


def test_256_positions_make_a_16_by_16_grid(grid):
    grid.show_step([snap(0, np.zeros(256))])
    first, last = grid.cell_rect(0), grid.cell_rect(255)
    assert grid.position_at(first.center()) == 0
    assert grid.position_at(last.center()) == 255
    assert grid.position_at(grid.cell_rect(16).center()) == 16
    assert grid.cell_rect(16).top() == pytest.approx(first.bottom())  # 16 columns per row
    assert last.right() <= grid.width() and last.bottom() < grid.height()  # the legend sits below the grid


def test_tooltip_reports_id_entropy_and_change_history(grid):
    history = three_step_history()
    grid.show_step(history, step=2)
    text = grid.tooltip_text(5)
    assert "position 5 (row 0, column 5)" in text
    assert "token id 6: '<eos>'" in text
    assert f"entropy {history[2].entropy[5]:.4g} nats" in text
    assert "step 3: last changed at step 3, 2 changes" in text  # the third step, counted from 1
    assert "renoised" in text
    text6 = grid.tooltip_text(6)
    assert "last changed at step 2, 1 change" in text6 and "accepted this step" in text6
    assert "accepted earlier (stable)" in grid.tooltip_text(7)
    assert "never changed" in grid.tooltip_text(8)
    assert "locked" in grid.tooltip_text(9)
    # Replaying an earlier step counts only the changes up to that step.
    grid.show_step(history, step=1)
    assert "last changed at step 2, 1 change" in grid.tooltip_text(5)
    assert "token id 1: 'b'" in grid.tooltip_text(5)


def test_hover_shows_escaped_tooltip(grid, qtbot):
    grid.show_step(three_step_history(), step=2)
    where = centre(grid, 5)  # token "<eos>" at step 2
    QApplication.sendEvent(grid, QHelpEvent(QEvent.Type.ToolTip, where, grid.mapToGlobal(where)))
    qtbot.waitUntil(QToolTip.isVisible, timeout=20_000)
    assert "position 5" in QToolTip.text()
    assert "&lt;eos&gt;" in QToolTip.text()  # escaped, so the token is shown rather than parsed as a tag
    QToolTip.hideText()


def test_click_selects_and_shift_click_extends(grid, qtbot):
    grid.show_step(three_step_history())
    with qtbot.waitSignal(grid.selectionChanged, check_params_cb=lambda s, e: (s, e) == (3, 4)):
        qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=centre(grid, 3))
    with qtbot.waitSignal(grid.selectionChanged, check_params_cb=lambda s, e: (s, e) == (3, 11)):
        qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, centre(grid, 10))
    # Extending backwards keeps the anchor at the first click.
    with qtbot.waitSignal(grid.selectionChanged, check_params_cb=lambda s, e: (s, e) == (1, 4)):
        qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, centre(grid, 1))
    assert grid.selection() == (1, 4)


def test_ctrl_click_requests_lock_without_changing_selection(grid, qtbot):
    grid.show_step(three_step_history())
    grid.setSelection(2, 4)
    with qtbot.waitSignal(grid.lockToggleRequested, check_params_cb=lambda p: p == 12):
        qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, centre(grid, 12))
    assert grid.selection() == (2, 4)


def test_programmatic_selection_emits_and_is_drawn(grid, qtbot):
    grid.show_step(three_step_history())
    with qtbot.waitSignal(grid.selectionChanged, check_params_cb=lambda s, e: (s, e) == (2, 5)):
        grid.setSelection(2, 5)
    with qtbot.assertNotEmitted(grid.selectionChanged):
        grid.setSelection(2, 5)  # unchanged: no signal
    image = grid.grab().toImage()
    rect = grid.cell_rect(2)
    edge = QColor(image.pixel(int(rect.left() + 2), int(rect.center().y())))
    assert edge == grid.palette().highlight().color()
    outside = QColor(image.pixel(int(grid.cell_rect(6).left() + 2), int(grid.cell_rect(6).center().y())))
    assert outside != grid.palette().highlight().color()
    with qtbot.waitSignal(grid.selectionChanged, check_params_cb=lambda s, e: (s, e) == (-1, -1)):
        grid.setSelection(None)
    assert grid.selection() is None


def test_clear_and_empty_history(grid):
    grid.show_step(three_step_history())
    assert grid.snapshot() is not None
    grid.clear()
    assert grid.snapshot() is None
    assert grid.position_at(grid.cell_rect(0).center()) is None
    assert grid.tooltip_text(0) == ""
    with pytest.raises(IndexError):
        grid.show_step(three_step_history(), step=3)


def test_token_text_is_cached_per_id(grid):
    calls: list[int] = []

    def token_text(token_id: int) -> str:
        calls.append(token_id)
        return "x"

    grid.set_token_text(token_text)
    history = three_step_history()
    grid.show_step(history)
    grid.grab()
    grid.show_step(history, step=1)
    grid.grab()
    assert sorted(calls) == sorted(set(calls))  # each id decoded once
    assert set(calls) == {0, 2, 6, 1}


def test_a_streamed_step_repaints_the_cells_not_the_legend(grid, qtbot):
    """The legend never changes while a canvas streams, so a new step leaves it out of the repaint."""
    history = three_step_history()
    grid.show_step(history[:1])
    grid.repaint()
    painted = []

    class PaintSpy(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt naming
            if event.type() == QEvent.Type.Paint:
                painted.append(event.rect())
            return False

    spy = PaintSpy()
    grid.installEventFilter(spy)
    grid.show_step(history[:2])
    qtbot.waitUntil(lambda: bool(painted))
    grid.removeEventFilter(spy)
    last_cell = grid.cell_rect(len(history[0].argmax) - 1)
    legend_top = last_cell.bottom() + 6
    assert all(rect.contains(last_cell.toRect()) and rect.bottom() < legend_top for rect in painted)


def test_redrawing_only_the_changed_cells_gives_the_picture_a_fresh_drawing_gives(qapp):
    """The cells image is kept between steps and only changed cells are redrawn: every step must look exactly as
    if drawn from scratch (marks that came and went included)."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QFont

    from widgets.canvas.grid_render import CellsImage, GridColours, GridLayout

    rng = np.random.default_rng(2)
    steps = []
    for s in range(8):
        accepted = rng.random(64) < 0.5
        locked = np.zeros(64, bool)
        locked[rng.integers(0, 64, 3)] = True
        steps.append(snap(s, rng.integers(0, 7, 64), rng.random(64) * 4, accepted, locked))
    history = CanvasHistory()
    history.update(steps)
    layout = GridLayout(QRect(0, 0, 400, 320), 8, 8, 64)
    colours = GridColours.of(qapp.palette())
    kept = CellsImage(layout, lambda i: VOCAB.get(i, "?"), QFont(), colours)
    for s in range(len(steps)):
        frame = CellFrame.build(history, s, Overlay.ENTROPY, 4.0)
        fresh = CellsImage(layout, lambda i: VOCAB.get(i, "?"), QFont(), colours)
        assert kept.draw(frame) == fresh.draw(frame), f"step {s}"

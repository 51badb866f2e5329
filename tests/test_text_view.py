"""The canvas text view: a canvas's tokens as the tokenizer decodes them, every one readable at canvas 256, coloured
by the overlay, drafts dimmed; clicks, shift-clicks and ctrl-clicks map to the same positions as the grid's."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QHelpEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip
from qt_helpers import shown

from models.canvas.overlays import Overlay
from models.canvas.running_text import canvas_text
from models.testing.tiny_checkpoint import CORPUS
from models.work.events import StepSnapshot
from widgets.canvas import colors
from widgets.canvas.canvas_panel import CanvasPanel
from widgets.canvas.canvas_text_view import CanvasTextView


def canvas_ids(tokenizer, length: int = 256) -> tuple[np.ndarray, int]:
    """Prose with multi-byte characters, end of turn, padding, then two stray drafts: (ids, count of text ids)."""
    text = tokenizer("Café 東京. " + CORPUS[:900], add_special_tokens=False)["input_ids"][: length - 20]
    end = [tokenizer.convert_tokens_to_ids("<turn|>")] + [tokenizer.pad_token_id] * (length - len(text) - 3)
    return np.array(text + end + text[:2], dtype=np.int64), len(text)


def snapshot(ids: np.ndarray, step: int = 0, accepted=None, entropy=None) -> StepSnapshot:
    n = len(ids)
    accepted = np.ones(n, bool) if accepted is None else np.asarray(accepted, bool)
    entropy = np.full(n, 0.5, np.float32) if entropy is None else np.asarray(entropy, np.float32)
    return StepSnapshot(0, step, ids, accepted, entropy, np.zeros(n, bool), np.ones(n, bool), float(entropy.mean()),
                        int(accepted.sum()), 0.5, 0.1, None, None)  # fmt: skip


def test_every_position_gets_its_piece_as_the_tokenizer_decodes(loaded_text):
    tokenizer = loaded_text.tokenizer
    ids, n_text = canvas_ids(tokenizer)
    text = canvas_text(tokenizer, ids)
    assert len(text.pieces) == len(ids) == 256
    assert "".join(text.pieces[:n_text]) == tokenizer.decode(ids[:n_text].tolist(), skip_special_tokens=False)
    assert text.ends[n_text : 256 - 2] == (True,) * (256 - 2 - n_text) and not any(text.ends[:n_text])
    assert "".join(text.pieces[-2:]) == tokenizer.decode(ids[-2:].tolist())  # drafts after the padding too
    groups = text.groups()
    assert [p for a, b in groups for p in range(a, b)] == list(range(256))  # each position once, in order
    e_acute = next((a, b) for a, b in groups if "".join(text.pieces[a:b]) == "é")
    assert e_acute[1] - e_acute[0] == 2  # é is two byte tokens in this vocabulary, drawn as one character


@pytest.fixture
def prose(loaded_text):
    ids, n_text = canvas_ids(loaded_text.tokenizer)
    return loaded_text.tokenizer, ids, n_text


def text_view(qtbot, tokenizer, width: int = 900, height: int = 700) -> CanvasTextView:
    view = CanvasTextView(lambda i: tokenizer.convert_ids_to_tokens(int(i)) or "", 4.0)
    view.set_tokenizer(tokenizer)
    return shown(qtbot, view, width, height)


def test_at_canvas_256_every_token_is_shown_whole_and_nothing_overlaps(qtbot, prose):
    tokenizer, ids, n_text = prose
    view = text_view(qtbot, tokenizer)
    view.show_step([snapshot(ids)])
    labels = view.labels()
    pieces = canvas_text(tokenizer, ids).pieces
    # Every text token carries its whole piece (its character, for byte tokens): nothing is elided.
    shown_text = "".join(labels[:n_text]).replace("⏎", "\n")
    assert shown_text == "".join(pieces[:n_text]) and "…" not in shown_text
    boxes = [view.position_rect(p) for p in range(256)]
    assert all(0 <= b.left() and b.right() <= view.width() and b.width() > 0 for b in boxes)
    ordered = sorted(boxes, key=lambda b: (b.top(), b.left()))
    for a, b in zip(ordered, ordered[1:], strict=False):
        assert a.top() != b.top() or a.right() <= b.left() + 1e-6, (a, b)  # a line's boxes side by side
    assert view.minimumHeight() <= view.height()  # prose of 256 tokens fits this view without scrolling


def box_colour(view: CanvasTextView, position: int) -> tuple[int, int, int]:
    """A box's background, at its bottom-left corner (clear of the text)."""
    rect = view.position_rect(position)
    colour = QColor(view.grab().toImage().pixel(int(rect.left() + 1), int(rect.bottom() - 1)))
    return colour.red(), colour.green(), colour.blue()


def test_boxes_take_the_overlay_colour_and_drafts_are_dimmed(qtbot, prose):
    tokenizer, ids, n_text = prose
    view = text_view(qtbot, tokenizer)
    entropy = np.full(256, 0.2, np.float32)
    entropy[10] = 3.8
    accepted = np.ones(256, bool)
    accepted[[20, 21]] = False
    ids = ids.copy()
    ids[20] = ids[21] = ids[30]  # the same token, one renoised and one accepted, for a like-for-like look
    accepted[30] = True
    settled = snapshot(ids, 0, entropy=entropy)  # accepted before: no "accepted now" outlines over the colours
    view.show_step([settled, snapshot(ids, 1, accepted=accepted, entropy=entropy)])
    low, high = colors.entropy_to_rgb(np.array([0.2, 3.8]), 4.0)
    assert max(abs(a - int(b)) for a, b in zip(box_colour(view, 5), low, strict=True)) <= 2
    assert max(abs(a - int(b)) for a, b in zip(box_colour(view, 10), high, strict=True)) <= 2
    image = view.grab().toImage()

    def brightest(position: int) -> int:  # white text on a dark box: the brightest pixel is the text's
        rect = view.position_rect(position).toRect()
        return max(QColor(image.pixel(x, y)).lightness() for x in range(rect.left(), rect.right())
                   for y in range(rect.top(), rect.bottom()))  # fmt: skip

    assert brightest(20) < brightest(30) - 40
    view.set_overlay(Overlay.REVISIONS)  # one step: nothing changed, every box on the map's first colour
    assert max(abs(a - int(b)) for a, b in zip(box_colour(view, 10), colors.MAGMA[0], strict=True)) <= 2


def click(qtbot, view, position: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, modifier, view.position_rect(position).center().toPoint())


def test_a_selection_in_the_text_is_the_same_span_in_the_grid(qtbot, prose):
    tokenizer, ids, n_text = prose
    panel = shown(qtbot, CanvasPanel(lambda i: tokenizer.convert_ids_to_tokens(int(i)) or "", 4.0), 900, 760)
    panel.set_tokenizer(tokenizer)
    panel.show_step([snapshot(ids)])
    panel.set_view("text")
    text, grid = panel.text, panel.grid
    with qtbot.waitSignal(panel.selectionChanged, check_params_cb=lambda s, e: (s, e) == (40, 41)):
        click(qtbot, text, 40)
    with qtbot.waitSignal(panel.selectionChanged, check_params_cb=lambda s, e: (s, e) == (40, 53)):
        click(qtbot, text, 52, Qt.KeyboardModifier.ShiftModifier)
    assert text.selection() == grid.selection() == (40, 53)
    # Both halves of a two-byte character are positions of their own, as in the grid.
    pieces = canvas_text(tokenizer, ids).pieces
    lead = next(i for i in range(n_text) if pieces[i] == "" and pieces[i + 1] == "é")
    click(qtbot, text, lead)
    assert grid.selection() == (lead, lead + 1)
    # Back in the grid, a click there moves the text view's selection the same way.
    panel.set_view("grid")
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_rect(77).center().toPoint())
    assert text.selection() == (77, 78)
    panel.set_view("text")
    # The arrow keys move through the flowing text: up and down to the token drawn above or below.
    text.setFocus()
    QTest.keyClick(text, Qt.Key.Key_Right)
    assert grid.selection() == (78, 79)
    QTest.keyClick(text, Qt.Key.Key_Down)
    below = grid.selection()[0]
    assert text.position_rect(below).top() > text.position_rect(78).bottom() - 1
    QTest.keyClick(text, Qt.Key.Key_Up)
    assert text.position_rect(grid.selection()[0]).top() == text.position_rect(78).top()
    with qtbot.waitSignal(panel.lockToggleRequested, check_params_cb=lambda p: p == 90):
        click(qtbot, text, 90, Qt.KeyboardModifier.ControlModifier)
    assert text.selection() == grid.selection()


def test_hovering_a_token_describes_it(qtbot, prose):
    tokenizer, ids, _ = prose
    view = text_view(qtbot, tokenizer)
    view.show_step([snapshot(ids)])
    where = view.position_rect(7).center().toPoint()
    QApplication.sendEvent(view, QHelpEvent(QEvent.Type.ToolTip, where, view.mapToGlobal(where)))
    qtbot.waitUntil(QToolTip.isVisible, timeout=20_000)
    assert "position 7 (line 1)" in QToolTip.text() and f"token id {int(ids[7])}" in QToolTip.text()
    QToolTip.hideText()


def test_a_burst_of_steps_is_drawn_once_with_the_newest(qtbot, prose):
    tokenizer, ids, _ = prose
    view = text_view(qtbot, tokenizer)
    steps = [snapshot(np.roll(ids, s), s) for s in range(30)]
    view.show_step(steps[:1])
    view.repaint()
    paints: list[int] = []

    class PaintSpy(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt naming
            if event.type() == QEvent.Type.Paint:
                paints.append(view.snapshot().step_index)
            return False

    spy = PaintSpy()
    view.installEventFilter(spy)
    for s in range(2, 31):  # steps arriving far faster than a frame
        view.show_step(steps[:s])
    qtbot.waitUntil(lambda: bool(paints) and paints[-1] == 29, timeout=20_000)
    view.removeEventFilter(spy)
    assert len(paints) <= 2  # a frame for the burst, not one per step

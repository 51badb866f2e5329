"""CanvasTextView: the canvas at one step as running text, every token readable, coloured by the active overlay.

Tokens flow as the tokenizer decodes them (byte-fallback tokens joined into their character, which their boxes share),
wrapped at token boundaries; a newline token ends its line. Each token's box takes the overlay colour, drafts (tokens
the sampler renoised this step) are dimmed, locked tokens and tokens accepted this step carry the grid's marks, and
end tokens (pad, EOS, end of turn) are small markers, named where a run of them starts. Same signals, selection,
tooltips and overlays as the grid (CanvasView); put it in a QScrollArea (widget resizable) for long canvases.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from models.canvas_text import CanvasText, canvas_text, raw_canvas_text
from widgets import colors
from widgets.canvas_view import PAINT_BUDGET_S, CanvasView, TokenText
from widgets.grid_cells import MARK_STABLE, text_rgba
from widgets.grid_render import (
    GridColours,
    MarkShape,
    accepted_outline,
    accepted_pen,
    paint_cell_marks,
    paint_span_outline,
)
from widgets.legend import Legend

MARGIN = 6
PAD = 1  # the text starts this far into its token's box
GAP = 1  # window-coloured pixels between neighbouring boxes: token boundaries show, the text still reads as prose


class CanvasTextView(CanvasView):
    """Running text of a canvas's tokens at one step; see CanvasView for the signals and the mouse."""

    def __init__(self, token_text: TokenText | None = None, max_entropy: float = colors.DEFAULT_MAX_ENTROPY,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(token_text, max_entropy, parent)
        self._tokenizer: Any = None
        self._ids: tuple[int, ...] | None = None  # the ids the layout was made for
        self._labels: list[str] = []  # what each position's box shows
        self._boxes: list[QRectF] = []  # per position, widget coordinates
        self._lines: list[tuple[float, float, int, int]] = []  # (top, bottom, first position, end position)
        self._content_height = 0
        self._legend: Legend | None = None
        self._images: dict[tuple[str, int], QImage] = {}
        self._colour_cache: dict[int, QColor] = {}
        self._placed: list[tuple[int, int, int, str]] = []  # (position, x, y, label) of every drawn label
        self._widths: dict[str, int] = {}  # label -> its box width, for the font in use
        self._shown: dict[str, str] = {}  # piece -> its label (whitespace and controls made visible)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_tokenizer(self, tokenizer: Any) -> None:
        """Decode with this tokenizer (the workspace's own, or its recorded one); None shows raw token texts."""
        self._tokenizer = tokenizer
        self._data_changed(layout=True)

    def labels(self) -> list[str]:
        """What each position shows (its piece of the text, a marker for end tokens), as laid out."""
        self._ensure_layout()
        return list(self._labels)

    # ---- layout -----------------------------------------------------------------------------------------------
    def _data_changed(self, layout: bool, legend: bool = False) -> None:
        # Nothing is laid out here: a burst of steps costs one layout, at the paint that shows the newest.
        if layout:
            self._ids = None
            self._images.clear()
            self._widths.clear()
        if legend or layout:
            self._legend = None
        if self._legend is None or self._legend.state() != self._legend_state():
            self.update()
        else:
            self._schedule(self._dirty_rect())  # a streamed step repaints the text, not the legend above it

    def _dirty_rect(self) -> QRect:
        return QRect(0, self._text_top(), self.width(), self.height())

    def _text_top(self) -> int:
        return MARGIN + (self._legend.height if self._legend is not None else 0)

    def _ensure_layout(self) -> None:
        """The legend on top (its height depends on the width and the overlay only), then the text below it."""
        state = self._legend_state()
        if self._legend is None or self._legend.state() != state:
            old = self._legend.height if self._legend is not None else -1
            self._legend = Legend(self.font(), *state, text_view=True)
            if self._legend.layout(self.width() - 2 * MARGIN) != old:
                self._ids = None  # the text moves
        snap = self.snapshot()
        ids = tuple(np.asarray(snap.argmax).tolist()) if snap is not None else ()
        if ids != self._ids:
            self._ids = ids
            self._lay_out(self._decode(ids))
        # A scroll area around the view scrolls the rest into reach. Drafts change the line count from step to
        # step; the minimum height grows in steps of four lines and shrinks only by more than that, so streaming
        # seldom relayouts the scroll area.
        chunk = 4 * (QFontMetricsF(self.font()).height() + 8)
        height, now = int(math.ceil(self._content_height / chunk) * chunk), self.minimumHeight()
        if height > now or height < now - chunk:
            self.setMinimumHeight(height)

    def _decode(self, ids: tuple[int, ...]) -> CanvasText:
        if self._tokenizer is not None:
            return canvas_text(self._tokenizer, ids)
        return raw_canvas_text(self.raw_text, ids)

    def _lay_out(self, text: CanvasText) -> None:
        """Boxes for every position, flowed into lines no wider than the widget."""
        fm = QFontMetricsF(self.font())
        line_h, box_h = fm.height() + 8, fm.height() + 3
        marker = round(fm.height() * 0.6)  # an end token repeating the one before it: a narrow box, no label
        right = max(self.width() - MARGIN, MARGIN + 40)
        labels = [""] * len(text.pieces)
        text_x = [0.0] * len(text.pieces)  # where a label starts: its character's first box, for byte tokens
        boxes = [QRectF()] * len(text.pieces)
        lines: list[tuple[float, float, int, int]] = []
        x, y, line_start = float(MARGIN), float(self._text_top() + 2), 0  # room for the selection's outline
        shown, widths, ids, ends = self._shown, self._widths, self._ids, text.ends
        for start, end in text.groups():
            piece = text.pieces[start] if end - start == 1 else "".join(text.pieces[start:end])
            breaks = 0
            if ends[start]:
                same = start > 0 and ends[start - 1] and ids[start - 1] == ids[start]
                label = "" if same else piece
                width = marker if same else widths.get(label) or self._width(label, fm)
            else:
                breaks = piece.count("\n")
                label = shown.get(piece)
                if label is None:
                    label = shown[piece] = _visible(piece)
                width = widths.get(label) or self._width(label, fm)
            if x + width > right and x > MARGIN:
                lines.append((y, y + line_h, line_start, start))
                x, y, line_start = float(MARGIN), y + line_h, start
            share = (width - GAP) / (end - start)  # a character's bytes share its box; the gap comes after it
            for i in range(start, end):
                boxes[i] = QRectF(x + (i - start) * share, y, share, box_h)
            labels[end - 1], text_x[end - 1] = label, x + PAD
            x += width
            for _ in range(breaks):
                lines.append((y, y + line_h, line_start, end))
                x, y, line_start = float(MARGIN), y + line_h, end
        if line_start < len(boxes) or not lines:
            lines.append((y, y + line_h, line_start, len(boxes)))
        self._labels, self._boxes, self._lines = labels, boxes, lines
        self._placed = [(i, int(x), int(boxes[i].top() + 1.5), label)
                        for i, (x, label) in enumerate(zip(text_x, labels, strict=True)) if label]  # fmt: skip
        self._content_height = int(y + line_h) + MARGIN

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(640, 360)

    def resizeEvent(self, event) -> None:  # noqa: N802
        self._ids, self._legend = None, None  # rewrap
        self._ensure_layout()
        super().resizeEvent(event)

    # ---- geometry ---------------------------------------------------------------------------------------------
    def position_rect(self, position: int) -> QRectF:
        self._ensure_layout()
        return QRectF(self._boxes[position]) if 0 <= position < len(self._boxes) else QRectF()

    def position_at(self, point: QPoint | QPointF) -> int | None:
        """The position under a point; in a line's empty stretch, the line's last position before it."""
        self._ensure_layout()
        x, y = point.x(), point.y()
        for top, bottom, start, end in self._lines:
            if top <= y < bottom and start < end:
                if x < self._boxes[start].left() - PAD:
                    return None
                candidates = [i for i in range(start, end) if self._boxes[i].left() <= x]
                return candidates[-1] if candidates else start
        return None

    def _where(self, position: int) -> str:
        self._ensure_layout()
        line = next((n for n, (_t, _b, s, e) in enumerate(self._lines) if s <= position < e), 0)
        return f"(line {line + 1})"

    # ---- painting ---------------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        self._ensure_layout()
        self._painted(event.rect())
        p = QPainter(self)
        colours = GridColours.of(self.palette())
        p.fillRect(event.rect(), colours.window)
        if event.rect().top() < self._text_top():
            self._legend.paint(p, QPointF(MARGIN, MARGIN), colours)
        frame = self.frame()
        if frame is None:
            p.setPen(colours.placeholder)
            p.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, "No canvas yet")
            return
        bg = frame.background.astype(np.int64)
        colour, cache = self._colour, self._colour_cache
        for box, rgb in zip(self._boxes, ((bg[:, 0] << 16) | (bg[:, 1] << 8) | bg[:, 2]).tolist(), strict=False):
            p.fillRect(box, cache.get(rgb) or colour(rgb))
        variants, images, started, complete = frame.variants.tolist(), self._images, time.perf_counter(), True
        for pos, x, y, label in self._placed:
            image = images.get((label, variants[pos]))
            if image is None:
                # A label never drawn before is rendered once; a step of many new ones is spread over several
                # passes (as in the grid) so the rest of the window gets its turn between them.
                if time.perf_counter() - started > PAINT_BUDGET_S:
                    complete = False
                    continue
                image = self._image(label, variants[pos])
            p.drawImage(x, y, image)
        if not complete:
            self._finish_later()
        # Accepted now and locked; tokens accepted before read as plain text (a dot on each would be clutter).
        # The outlines (many, in the first steps) in one call, the rarer locks one by one.
        outlines = [accepted_outline(self._boxes[i], True) for i in np.flatnonzero(frame.accepted_now).tolist()]
        if outlines:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(accepted_pen(outlines[0]))
            p.drawRects(outlines)
        for pos in np.flatnonzero(frame.locked).tolist():
            paint_cell_marks(p, MarkShape.of(self._boxes[pos], True), int(frame.marks[pos]) & ~MARK_STABLE)
        if self._highlight:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QColor(230, 0, 170))
            p.drawRects([self._boxes[i] for i in self._highlight if i < len(self._boxes)])
        if self._selection is not None:
            self._paint_selection(p, colours)

    def _paint_selection(self, p: QPainter, colours: GridColours) -> None:
        start, end = self._selection[0], min(self._selection[1], len(self._boxes))
        for _top, _bottom, first, last in self._lines:
            a, b = max(start, first), min(end, last)
            if a < b:
                paint_span_outline(p, self._boxes[a].united(self._boxes[b - 1]).adjusted(-1.5, -1.5, 1.5, 1.5),
                                   colours.highlight)  # fmt: skip

    def _colour(self, rgb: int) -> QColor:
        colour = self._colour_cache[rgb] = QColor.fromRgb(rgb)
        return colour

    def _width(self, label: str, fm: QFontMetricsF) -> int:
        width = self._widths.get(label)
        if width is None:
            width = self._widths[label] = math.ceil(fm.horizontalAdvance(label)) + PAD + GAP
        return width

    def _image(self, label: str, variant: int) -> QImage:
        """The label pre-rendered in its text style, drawn as an image at every later paint."""
        image = self._images.get((label, variant))
        if image is None:
            fm = QFontMetricsF(self.font())
            ratio = self.devicePixelRatioF()
            w, h = int(fm.horizontalAdvance(label) + 2.999), int(fm.height() + 0.999)
            image = QImage(int(w * ratio), int(h * ratio), QImage.Format.Format_ARGB32_Premultiplied)
            image.setDevicePixelRatio(ratio)
            image.fill(0)
            painter = QPainter(image)
            painter.setFont(self.font())
            painter.setPen(QColor(*text_rgba(variant)))
            painter.drawText(QRect(0, 0, w, h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
            painter.end()
            self._images[(label, variant)] = image
        return image


def _visible(piece: str) -> str:
    """A token's text as shown inline: newlines as ⏎ (the line then breaks), tabs as →, other controls escaped,
    and an empty token as ∅ so it can still be seen and clicked."""
    if not piece:
        return "∅"
    shown = piece.replace("\n", "⏎").replace("\t", "→").replace("\r", "␍")
    if any(not c.isprintable() and c != " " for c in shown):
        shown = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in shown)
    return shown


__all__ = ["CanvasTextView"]

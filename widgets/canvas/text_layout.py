"""Running text of a canvas: where each token's box goes (`TextLayout`) and how a frame is painted over it.

One `TextPainter` per font does both, on the GUI thread or (while a run streams) on the text view's render worker,
which paints the whole text into an image the GUI thread only puts on screen. Its caches (each label's width and
pre-rendered image, each piece's visible label, cell colours) are bounded: a long session, or a vocabulary of 262,144
tokens, does not grow them without end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter

from models.canvas.running_text import CanvasText
from models.work.bounded_cache import BoundedCache
from widgets.canvas.grid_cells import MARK_STABLE, CellFrame, text_rgba
from widgets.canvas.grid_render import MarkShape, accepted_outline, accepted_pen, paint_cell_marks

MARGIN = 6
PAD = 1  # the text starts this far into its token's box
GAP = 1  # window-coloured pixels between neighbouring boxes: token boundaries show, the text still reads as prose
LABEL_IMAGES = 2048  # pre-rendered labels (per text style): eight canvases of new tokens
LABELS = 16384  # label widths, and pieces' visible labels
COLOURS = 4096


@dataclass(frozen=True)
class TextLayout:
    """Boxes for every position of `ids`, flowed into lines no wider than `width`, starting at `top`."""

    ids: tuple[int, ...]
    width: int
    top: int
    labels: tuple[str, ...]  # what each position's box shows ('' for a byte token sharing its character's box)
    boxes: tuple[QRectF, ...]  # per position, widget coordinates
    lines: tuple[tuple[float, float, int, int], ...]  # (top, bottom, first position, end position)
    placed: tuple[tuple[int, int, int, str], ...]  # (position, x, y, label) of every drawn label
    content_height: int


class TextPainter:
    """Lays out and paints running text in one font at one pixel ratio. Not for two threads at once: the view
    holds a lock around it."""

    def __init__(self, font: QFont, pixel_ratio: float = 1.0) -> None:
        self.font, self.ratio = QFont(font), pixel_ratio
        self._metrics = QFontMetricsF(self.font)
        self._images: BoundedCache[tuple[str, int], QImage] = BoundedCache(LABEL_IMAGES)
        self._widths: BoundedCache[str, int] = BoundedCache(LABELS)
        self._shown: BoundedCache[str, str] = BoundedCache(LABELS)
        self._colours: BoundedCache[int, QColor] = BoundedCache(COLOURS)

    def cached(self) -> int:
        """Entries in all its caches: bounded whatever the vocabulary and the session."""
        return len(self._images) + len(self._widths) + len(self._shown) + len(self._colours)

    # ---- layout -----------------------------------------------------------------------------------------------
    def lay_out(self, text: CanvasText, ids: tuple[int, ...], width: int, top: int) -> TextLayout:
        fm = self._metrics
        line_h, box_h = fm.height() + 8, fm.height() + 3
        marker = round(fm.height() * 0.6)  # an end token repeating the one before it: a narrow box, no label
        right = max(width - MARGIN, MARGIN + 40)
        count = len(text.pieces)
        labels = [""] * count
        text_x = [0.0] * count  # where a label starts: its character's first box, for byte tokens
        boxes = [QRectF()] * count
        lines: list[tuple[float, float, int, int]] = []
        x, y, line_start = float(MARGIN), float(top + 2), 0  # room for the selection's outline
        ends = text.ends
        for start, end in text.groups():
            piece = text.pieces[start] if end - start == 1 else "".join(text.pieces[start:end])
            breaks = 0
            if ends[start]:
                same = start > 0 and ends[start - 1] and ids[start - 1] == ids[start]
                label = "" if same else piece
                width_ = marker if same else self._width(label)
            else:
                breaks = piece.count("\n")
                label = self._shown.get_or_make(piece, visible_label)
                width_ = self._width(label)
            if x + width_ > right and x > MARGIN:
                lines.append((y, y + line_h, line_start, start))
                x, y, line_start = float(MARGIN), y + line_h, start
            share = (width_ - GAP) / (end - start)  # a character's bytes share its box; the gap comes after it
            for i in range(start, end):
                boxes[i] = QRectF(x + (i - start) * share, y, share, box_h)
            labels[end - 1], text_x[end - 1] = label, x + PAD
            x += width_
            for _ in range(breaks):
                lines.append((y, y + line_h, line_start, end))
                x, y, line_start = float(MARGIN), y + line_h, end
        if line_start < count or not lines:
            lines.append((y, y + line_h, line_start, count))
        placed = tuple((i, int(x), int(boxes[i].top() + 1.5), label)
                       for i, (x, label) in enumerate(zip(text_x, labels, strict=True)) if label)  # fmt: skip
        return TextLayout(ids, width, top, tuple(labels), tuple(boxes), tuple(lines), placed, int(y + line_h) + MARGIN)

    def _width(self, label: str) -> int:
        return self._widths.get_or_make(label, self._measure)

    def _measure(self, label: str) -> int:
        return math.ceil(self._metrics.horizontalAdvance(label)) + PAD + GAP

    # ---- painting ---------------------------------------------------------------------------------------------
    def paint(self, p: QPainter, layout: TextLayout, frame: CellFrame) -> None:
        """The boxes in the overlay's colours, the labels, and the accepted-now and locked marks."""
        bg = frame.background.astype(np.int64)
        colour = self._colours.get_or_make
        rgbs = ((bg[:, 0] << 16) | (bg[:, 1] << 8) | bg[:, 2]).tolist()
        for box, rgb in zip(layout.boxes, rgbs, strict=False):
            p.fillRect(box, colour(rgb, QColor.fromRgb))
        variants, images = frame.variants.tolist(), self._images
        for pos, x, y, label in layout.placed:
            image = images.get((label, variants[pos]))
            if image is None:  # a label never drawn before (in this style) is rendered once
                image = images.put((label, variants[pos]), self._render(label, variants[pos]))
            p.drawImage(x, y, image)
        # Accepted now and locked; tokens accepted before read as plain text (a dot on each would be clutter).
        # The outlines (many, in the first steps) in one call, the rarer locks one by one.
        outlines = [accepted_outline(layout.boxes[i], True) for i in np.flatnonzero(frame.accepted_now).tolist()
                    if i < len(layout.boxes)]  # fmt: skip
        if outlines:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(accepted_pen(outlines[0]))
            p.drawRects(outlines)
        for pos in np.flatnonzero(frame.locked).tolist():
            if pos < len(layout.boxes):
                paint_cell_marks(p, MarkShape.of(layout.boxes[pos], True), int(frame.marks[pos]) & ~MARK_STABLE)

    def image(self, layout: TextLayout, frame: CellFrame, window: QColor) -> QImage:
        """The text below `layout.top` as an image, every label rendered (the render worker's whole frame)."""
        height = max(1, layout.content_height - layout.top)
        image = QImage(int(layout.width * self.ratio), int(height * self.ratio), QImage.Format.Format_RGB32)
        image.setDevicePixelRatio(self.ratio)
        image.fill(window)
        p = QPainter(image)
        p.translate(0, -layout.top)
        self.paint(p, layout, frame)
        p.end()
        return image

    def _render(self, label: str, variant: int) -> QImage:
        """The label pre-rendered in its text style, drawn as an image at every later paint."""
        fm = self._metrics
        w, h = int(fm.horizontalAdvance(label) + 2.999), int(fm.height() + 0.999)
        image = QImage(int(w * self.ratio), int(h * self.ratio), QImage.Format.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(self.ratio)
        image.fill(0)
        painter = QPainter(image)
        painter.setFont(self.font)
        painter.setPen(QColor(*text_rgba(variant)))
        painter.drawText(QRect(0, 0, w, h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
        painter.end()
        return image


def visible_label(piece: str) -> str:
    """A token's text as shown inline: newlines as ⏎ (the line then breaks), tabs as →, other controls escaped,
    and an empty token as ∅ so it can still be seen and clicked."""
    if not piece:
        return "∅"
    shown = piece.replace("\n", "⏎").replace("\t", "→").replace("\r", "␍")
    if any(not c.isprintable() and c != " " for c in shown):
        shown = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in shown)
    return shown


__all__ = ["GAP", "MARGIN", "PAD", "TextLayout", "TextPainter", "visible_label"]

"""Painting a token-grid frame: one code path for the widget's paintEvent and for exported images.

Cheap at canvas 256: every cell background in one scaled drawImage of a (rows x columns) image, the gaps in one
drawLines, each cell's text as a cached pre-rendered image (one per token id and text style), and each kind of mark
in one call for all cells that have it. QImage (not QPixmap) throughout, so an export can render off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPalette, QPen, QPolygonF

from models.work.bounded_cache import BoundedCache
from widgets.canvas.grid_cells import (
    ACCEPTED_NOW_RGB,
    MARK_ACCEPTED_NOW,
    MARK_LOCKED,
    MARK_ON_LIGHT,
    MARK_STABLE,
    TEXT_VARIANTS,
    CellFrame,
    format_token,
    text_rgba,
)

ACCEPTED_NOW = QColor(*ACCEPTED_NOW_RGB)
DIFFERENT = QColor(230, 0, 170)  # magenta outline of positions two runs disagree on: no overlay colour is near it
TEXT_IMAGES = 2048  # pre-rendered token texts kept per cell size: eight canvases' worth, about 10 MB at most
COLOURS = 4096  # cell colours kept as QColors (colormap entries, washed outside the span)


@dataclass(frozen=True)
class GridColours:
    """The palette colours a frame is painted with, taken on the GUI thread so a worker can paint the same."""

    window: QColor
    text: QColor
    highlight: QColor
    placeholder: QColor

    @classmethod
    def of(cls, palette: QPalette) -> GridColours:
        return cls(QColor(palette.window().color()), QColor(palette.windowText().color()),
                   QColor(palette.highlight().color()), QColor(palette.placeholderText().color()))  # fmt: skip

    @property
    def window_rgb(self) -> tuple[int, int, int]:
        return self.window.red(), self.window.green(), self.window.blue()


@dataclass(frozen=True)
class MarkShape:
    """Where a cell's marks go: the accepted-now outline, the locked dashes and corner, the accepted-before dot."""

    accepted: QRectF
    locked: QRectF
    corner: QPolygonF
    dot: QPointF
    dot_radius: float

    @classmethod
    def of(cls, rect: QRectF, compact: bool = False) -> MarkShape:
        """Marks for a grid cell, or (`compact`) for a token's box in running text: there the locked border is a
        dashed underline, so it does not cross the text."""
        s = min(rect.width(), rect.height())
        t = 5.0 if compact else max(5.0, s * 0.32)
        r = min(4.0, max(1.5, s * 0.07))
        corner = QPolygonF([rect.topRight(), rect.topRight() + QPointF(-t, 0), rect.topRight() + QPointF(0, t)])
        if compact:
            locked = QRectF(rect.left() + 1, rect.bottom() - 1.5, rect.width() - 2, 0)
        else:
            locked = rect.adjusted(3.5, 3.5, -3.5, -3.5)
        dot = QPointF(rect.right() - r - 2.5, rect.bottom() - r - 2.5)
        return cls(accepted_outline(rect, compact), locked, corner, dot, r)


def accepted_outline(rect: QRectF, compact: bool = False) -> QRectF:
    """The accepted-now outline of a cell (or, `compact`, of a token's box in running text)."""
    return rect.adjusted(1, 1, -1, -1) if compact else rect.adjusted(1.5, 1.5, -1.5, -1.5)


def accepted_pen(outline: QRectF) -> QPen:
    return QPen(ACCEPTED_NOW, 2.5 if outline.height() > 24 else 2)


def paint_cell_marks(p: QPainter, shape: MarkShape, key: int) -> None:
    """Draw one cell's marks (MARK_* bits of `key`); the grid's mark images and the legend's key both come from
    here, so the key matches the cells exactly."""
    contrast = QColor(0, 0, 0) if key & MARK_ON_LIGHT else QColor(255, 255, 255)
    p.setBrush(Qt.BrushStyle.NoBrush)
    if key & MARK_LOCKED:
        # A corner triangle plus a dashed inner border: visible even when the cell is also outlined as accepted.
        p.setPen(QPen(contrast, 1.5, Qt.PenStyle.DashLine))
        p.drawRect(shape.locked)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(contrast)
        p.drawPolygon(shape.corner)
        p.setBrush(Qt.BrushStyle.NoBrush)
    if key & MARK_STABLE:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(contrast)
        p.drawEllipse(shape.dot, shape.dot_radius, shape.dot_radius)
        p.setBrush(Qt.BrushStyle.NoBrush)
    if key & MARK_ACCEPTED_NOW:
        p.setPen(accepted_pen(shape.accepted))
        p.drawRect(shape.accepted)


class MarkImages:
    """Each combination of marks pre-rendered once for one cell size: a marked cell costs one image draw."""

    def __init__(self, width: int, height: int, pixel_ratio: float = 1.0) -> None:
        self.width, self.height, self.ratio = width, height, pixel_ratio
        self._shape = MarkShape.of(QRectF(0, 0, width, height))
        self._cache: dict[int, QImage] = {}

    def get(self, key: int) -> QImage:
        image = self._cache.get(key)
        if image is None:
            image = QImage(int(self.width * self.ratio), int(self.height * self.ratio),
                           QImage.Format.Format_ARGB32_Premultiplied)  # fmt: skip
            image.setDevicePixelRatio(self.ratio)
            image.fill(0)
            painter = QPainter(image)
            paint_cell_marks(painter, self._shape, key)
            painter.end()
            self._cache[key] = image
        return image

    def __len__(self) -> int:
        return len(self._cache)  # at most one per combination of the MARK_* bits


class TextImages:
    """Each token's elided text pre-rendered once per text style for one cell size; drawn as images after that."""

    def __init__(self, raw_text: Callable[[int], str], font: QFont, cell: QRectF, pixel_ratio: float = 1.0) -> None:
        self.raw_text, self.font, self.ratio = raw_text, QFont(font), pixel_ratio
        self.width, self.height = cell.width(), cell.height()
        self._metrics = QFontMetricsF(self.font)
        self._fonts = {False: self.font, True: QFont(self.font)}
        self._fonts[True].setItalic(True)
        self._cache: BoundedCache[tuple[int, int], tuple[QImage, int, int]] = BoundedCache(TEXT_IMAGES)

    def get(self, token_id: int, variant: int) -> tuple[QImage, int, int]:
        """(image, x, y): the image and its offset from the cell's top-left corner, centring the text."""
        hit = self._cache.get((token_id, variant))
        if hit is None:
            hit = self._cache.put((token_id, variant), self._render(format_token(self.raw_text(token_id)), variant))
        return hit

    def __len__(self) -> int:
        return len(self._cache)

    def _render(self, full: str, variant: int) -> tuple[QImage, int, int]:
        _dark, italic = TEXT_VARIANTS[variant]
        text = self._metrics.elidedText(full, Qt.TextElideMode.ElideRight, max(1.0, self.width - 4))
        font = self._fonts[italic]
        metrics = QFontMetricsF(font)
        w = max(1, int(metrics.horizontalAdvance(text) + 2.999))
        h = max(1, int(metrics.height() + 0.999))
        image = QImage(int(w * self.ratio), int(h * self.ratio), QImage.Format.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(self.ratio)
        image.fill(0)
        painter = QPainter(image)
        painter.setFont(font)
        painter.setPen(QColor(*text_rgba(variant)))
        painter.drawText(QRectF(0, 0, w, h), Qt.AlignmentFlag.AlignCenter, text)
        painter.end()
        return image, int((self.width - w) / 2), int((self.height - h) / 2)


FIT_TOKEN = "<pad>"  # the text every cell must show whole: the padding that fills most of a short answer's canvas


class GridLayout:
    """Whole-pixel cell geometry for a grid inside `area` (cells at integer positions keep text and fills crisp)."""

    def __init__(self, area: QRect, rows: int, cols: int, count: int) -> None:
        self.rows, self.cols, self.count = rows, cols, count
        cw, ch = max(1, area.width() // cols), max(1, area.height() // rows)
        self.cell_w, self.cell_h = cw, ch
        self.rect = QRect(area.left(), area.top(), cw * cols, ch * rows)
        left, top = area.left(), area.top()
        self.cells = [QRectF(left + (i % cols) * cw, top + (i // cols) * ch, cw, ch) for i in range(count)]

    def cell_font(self, base: QFont) -> QFont:
        """The cell text's font: about half the cell's height, and small enough that a five-letter token such as
        <pad> fits a narrow cell whole (at 1024x700 the cells were wide enough only for "<p…")."""
        font = QFont(base)
        size = int(max(8, min(16, self.cell_h * 0.52)))
        font.setPixelSize(size)
        while size > 8 and QFontMetricsF(font).horizontalAdvance(FIT_TOKEN) > self.cell_w - 6:
            size -= 1
            font.setPixelSize(size)
        return font


def rgb32_image(rgb: np.ndarray) -> QImage:
    """A QImage of (rows, cols, 3) uint8 colours in RGB32, a format the raster engine draws without converting."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    packed = np.ascontiguousarray(0xFF000000 | (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
    rows, cols = packed.shape
    return QImage(packed.tobytes(), cols, rows, cols * 4, QImage.Format.Format_RGB32).copy()


class CellsImage:
    """The cells of one grid layout as an image, kept between frames: drawing a frame repaints only the cells whose
    colour, token, text style or marks differ from the frame drawn before (late in a canvas, most cells settle)."""

    def __init__(self, layout: GridLayout, raw_text: Callable[[int], str], font: QFont, colours: GridColours,
                 pixel_ratio: float = 1.0) -> None:  # fmt: skip
        self.layout, self.colours = layout, colours
        cw, ch = layout.cell_w, layout.cell_h
        self.texts = TextImages(raw_text, layout.cell_font(font), QRectF(0, 0, cw, ch), pixel_ratio)
        self.marks = MarkImages(cw, ch, pixel_ratio)
        self.image = QImage(int(layout.rect.width() * pixel_ratio), int(layout.rect.height() * pixel_ratio),
                            QImage.Format.Format_RGB32)  # fmt: skip
        self.image.setDevicePixelRatio(pixel_ratio)
        self.image.fill(colours.window)
        # Cell origins inside the image; each cell leaves a one-pixel gap in the window colour right and below.
        self._origins = [(int(r.left()) - layout.rect.left(), int(r.top()) - layout.rect.top()) for r in layout.cells]
        self._cells = [QRect(x, y, cw, ch) for x, y in self._origins]
        self._fills = [QRect(x, y, cw - 1, ch - 1) for x, y in self._origins]
        self._keys: np.ndarray | None = None  # (4, count) what each cell shows now
        self._colours: BoundedCache[int, QColor] = BoundedCache(COLOURS)

    def draw(self, frame: CellFrame) -> QImage:
        """The image with `frame` drawn into it: only the cells that differ from the frame drawn before."""
        count = min(self.layout.count, len(frame.token_ids))
        bg = frame.background[:count].astype(np.int64)
        rgb = (bg[:, 0] << 16) | (bg[:, 1] << 8) | bg[:, 2]
        keys = np.stack([rgb, frame.token_ids[:count], frame.variants[:count], frame.marks[:count]])
        if self._keys is None or self._keys.shape != keys.shape:
            self._keys = np.full_like(keys, -1)  # nothing drawn yet: every cell differs
        changed = np.flatnonzero((keys != self._keys).any(axis=0)).tolist()
        if not changed:
            return self.image
        rgbs, ids, variants, mark_keys = (row.tolist() for row in keys)
        p = QPainter(self.image)
        text, mark, colour, window = self.texts.get, self.marks.get, self._colour, self.colours.window
        for pos in changed:
            x, y = self._origins[pos]
            p.fillRect(self._cells[pos], window)  # the gap too: a mark drawn last frame may reach into it
            p.fillRect(self._fills[pos], colour(rgbs[pos]))
            image, dx, dy = text(ids[pos], variants[pos])
            p.drawImage(x + dx, y + dy, image)
            if mark_keys[pos]:
                p.drawImage(x, y, mark(mark_keys[pos]))
        p.end()
        self._keys = keys
        return self.image

    def _colour(self, rgb: int) -> QColor:
        return self._colours.get_or_make(rgb, QColor.fromRgb)

    def cached(self) -> int:
        """Entries in this image's caches (token texts, colours): bounded whatever the vocabulary and session."""
        return len(self.texts) + len(self._colours) + len(self.marks)


def paint_highlight(p: QPainter, layout: GridLayout, positions: list[int]) -> None:
    """Outline positions in magenta (where two compared runs differ)."""
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.setPen(QPen(DIFFERENT, 3))
    p.drawRects([layout.cells[i].adjusted(2, 2, -2, -2) for i in positions if i < layout.count])


def paint_span_outline(p: QPainter, rect: QRectF, colour: QColor) -> None:
    fill = QColor(colour)
    fill.setAlpha(70)
    p.setPen(QPen(colour, 3))
    p.setBrush(fill)
    p.drawRect(rect.adjusted(1.5, 1.5, -1.5, -1.5))


def paint_selection(p: QPainter, layout: GridLayout, span: tuple[int, int], colour: QColor) -> None:
    """One outline per grid row the span crosses, so a multi-row span reads as one block of text."""
    start, end = span[0], min(span[1], layout.count)
    while start < end:
        row_end = min(end, (start // layout.cols + 1) * layout.cols)
        paint_span_outline(p, layout.cells[start].united(layout.cells[row_end - 1]), colour)
        start = row_end

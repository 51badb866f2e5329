"""What a token-grid cell shows: token text with visible whitespace, change history, and its marks."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF

from models.events import StepSnapshot
from widgets import colors

# Visible stand-ins for whitespace; '▁' is SentencePiece's (Gemma's) word-start space.
_GLYPHS = str.maketrans({" ": "·", "\u2581": "·", "\n": "⏎", "\r": "␍", "\t": "→"})


def format_token(text: str) -> str:
    """A token's text as one visible line: spaces, newlines and tabs as glyphs, other controls escaped."""
    if not text:
        return "∅"
    shown = text.translate(_GLYPHS)
    if any(not c.isprintable() for c in shown):
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)
    return shown


def history_stats(argmax: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per step and position: how often the token changed so far, and the step it last changed (0: never since).

    argmax is (steps, L); both results are (steps, L) int arrays, row s covering steps 0..s.
    """
    changed = np.zeros(argmax.shape, dtype=bool)
    changed[1:] = argmax[1:] != argmax[:-1]
    counts = np.cumsum(changed, axis=0)
    steps = np.arange(argmax.shape[0])[:, None]
    last = np.maximum.accumulate(np.where(changed, steps, 0), axis=0)
    return counts, last


def grid_shape(length: int) -> tuple[int, int]:
    """(rows, columns) for a canvas: ceil(sqrt(L)) columns, so 256 -> 16x16 and 64 -> 8x8."""
    cols = max(1, math.ceil(math.sqrt(length)))
    return max(1, math.ceil(length / cols)), cols


# Accepted-this-step outline: an orange-red that viridis never reaches, so it stands out on purple and yellow alike.
ACCEPTED_NOW = QColor(255, 69, 0)
WASH_ALPHA = 0.65  # how far cells outside the edited span fade toward the window colour
RENOISED_ALPHA = 150  # renoised text is dimmed (and italic): the sampler threw that draft token away


@dataclass(frozen=True)
class CellMarks:
    """Everything paintEvent needs per cell at one step, computed once with numpy when the step changes."""

    entropy: np.ndarray
    background: list[QColor]
    foreground: list[QColor]  # text colour: black or white for contrast, dimmed where renoised
    contrast: list[QColor]  # full-strength black or white for marks drawn over the background
    accepted_now: np.ndarray  # accepted this step and not already accepted with the same token a step before
    stable: np.ndarray  # accepted this step and the previous one with the same token
    renoised: np.ndarray
    locked: np.ndarray
    editable: np.ndarray
    token_ids: list[int]
    # Plain-Python copies for paintEvent: indexing numpy arrays per cell costs more than the drawing itself.
    upright_positions: list[int]
    italic_positions: list[int]
    decorated_positions: list[int]
    accepted_now_list: list[bool]
    stable_list: list[bool]
    locked_list: list[bool]

    @classmethod
    def from_snapshots(
        cls,
        snap: StepSnapshot,
        prev: StepSnapshot | None,
        max_entropy: float,
        wash_rgb: tuple[int, int, int] = (255, 255, 255),
    ) -> CellMarks:
        """Marks for `snap`; `prev` (the step before) tells stable from newly accepted; cells outside the span
        are blended toward `wash_rgb` (the palette's window colour) so they recede."""
        accepted = np.asarray(snap.accepted, dtype=bool)
        if prev is None:
            stable = np.zeros_like(accepted)
        else:
            stable = accepted & np.asarray(prev.accepted, dtype=bool) & (snap.argmax == prev.argmax)
        editable = np.asarray(snap.editable, dtype=bool)
        bg = colors.entropy_to_rgb(snap.entropy, max_entropy)
        # Blend here rather than painting a translucent wash, so the text colour is chosen for what is shown.
        washed = bg * (1 - WASH_ALPHA) + np.asarray(wash_rgb, dtype=np.float64) * WASH_ALPHA
        bg = np.where(editable[:, None], bg, np.round(washed).astype(np.uint8))
        dark = colors.use_dark_text(bg)
        renoised = ~accepted
        contrast = [QColor(0, 0, 0) if d else QColor(255, 255, 255) for d in dark.tolist()]
        foreground = [
            QColor(c.red(), c.green(), c.blue(), RENOISED_ALPHA if r else 255)
            for c, r in zip(contrast, renoised.tolist(), strict=True)
        ]
        # Cells outside the edited span are held, not sampled: they are never "accepted now".
        accepted_now = accepted & ~stable & editable
        locked = np.asarray(snap.locked, dtype=bool)
        return cls(
            entropy=np.asarray(snap.entropy),
            background=[QColor(r, g, b) for r, g, b in bg.tolist()],
            foreground=foreground,
            contrast=contrast,
            accepted_now=accepted_now,
            stable=stable,
            renoised=renoised,
            locked=locked,
            editable=editable,
            token_ids=np.asarray(snap.argmax).tolist(),
            upright_positions=np.flatnonzero(~renoised).tolist(),
            italic_positions=np.flatnonzero(renoised).tolist(),
            decorated_positions=np.flatnonzero(accepted_now | stable | locked).tolist(),
            accepted_now_list=accepted_now.tolist(),
            stable_list=stable.tolist(),
            locked_list=locked.tolist(),
        )


def paint_cell_marks(
    p: QPainter, rect: QRectF, contrast: QColor, *, accepted_now: bool, stable: bool, locked: bool
) -> None:
    """Draw the step marks over one cell (shared by the grid and its key, so the key matches exactly)."""
    s = min(rect.width(), rect.height())
    p.setBrush(Qt.BrushStyle.NoBrush)
    if locked:
        # A corner triangle plus a dashed inner border: visible even when the cell is also outlined as accepted.
        pen = QPen(contrast, 1.5, Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.drawRect(rect.adjusted(3.5, 3.5, -3.5, -3.5))
        t = max(5.0, s * 0.32)
        corner = QPolygonF([rect.topRight(), rect.topRight() + QPointF(-t, 0), rect.topRight() + QPointF(0, t)])
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(contrast)
        p.drawPolygon(corner)
        p.setBrush(Qt.BrushStyle.NoBrush)
    if stable:
        r = min(4.0, max(1.5, s * 0.07))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(contrast)
        p.drawEllipse(QPointF(rect.right() - r - 2.5, rect.bottom() - r - 2.5), r, r)
        p.setBrush(Qt.BrushStyle.NoBrush)
    if accepted_now:
        p.setPen(QPen(ACCEPTED_NOW, 2.5))
        p.drawRect(rect.adjusted(1.5, 1.5, -1.5, -1.5))


SWATCH_RGB = tuple(colors.LUT[110].tolist())  # a mid-entropy cell colour behind the key's sample marks
SWATCH_TEXT_RGB = tuple(colors.text_rgb(colors.LUT[110]).tolist())
KEY = ("accepted now", "accepted before", "renoised", "locked", "outside span", "selected")


@functools.cache
def lut_image() -> QImage:
    """The colormap as a 256x1 image, drawn stretched as the legend's colour bar (same colours as the cells)."""
    rgb = np.ascontiguousarray(colors.LUT[None, :, :])
    return QImage(rgb.tobytes(), rgb.shape[1], 1, rgb.shape[1] * 3, QImage.Format.Format_RGB888).copy()



"""What a canvas cell shows at one step: token text with visible whitespace, its colour under the active overlay,
and its marks (accepted now, accepted before, renoised, locked, outside the span), as numpy arrays and plain lists
computed once per shown step (not per paint). No drawing here; widgets/canvas/grid_render.py paints these."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.canvas.overlays import CanvasHistory, Overlay
from models.work.events import StepSnapshot
from widgets.canvas import colors

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


def grid_shape(length: int) -> tuple[int, int]:
    """(rows, columns) for a canvas: ceil(sqrt(L)) columns, so 256 -> 16x16 and 64 -> 8x8."""
    cols = max(1, math.ceil(math.sqrt(length)))
    return max(1, math.ceil(length / cols)), cols


ACCEPTED_NOW_RGB = (255, 69, 0)  # an orange-red that neither colormap reaches: it stands out on any cell
WASH_ALPHA = 0.65  # how far cells outside the edited span fade toward the window colour
RENOISED_ALPHA = 150  # renoised text is dimmed (and italic in the grid): the sampler threw that draft token away
SWATCH_RGB = tuple(colors.LUT[110].tolist())  # a mid-entropy cell colour behind the key's sample marks
SWATCH_TEXT_RGB = tuple(colors.text_rgb(colors.LUT[110]).tolist())
KEY = ("accepted now", "accepted before", "renoised", "locked", "outside span", "selected")
# A cell's marks as bits; MARK_ON_LIGHT: drawn in black on a light cell (else white on a dark one).
MARK_ACCEPTED_NOW, MARK_STABLE, MARK_LOCKED, MARK_ON_LIGHT = 1, 2, 4, 8


@dataclass(frozen=True)
class FrameInputs:
    """What a frame is built from, taken from a canvas history in O(canvas): the history goes on growing while a
    live frame is built on the render worker, these do not."""

    snapshot: StepSnapshot
    previous: StepSnapshot | None
    overlay: Overlay
    has_values: bool
    value_range: tuple[float, float]
    values: np.ndarray  # a copy of the overlay's row at the step
    wash_rgb: tuple[int, int, int]
    final: bool

    @classmethod
    def of(cls, history: CanvasHistory, step: int, overlay: Overlay, max_entropy: float,
           wash_rgb: tuple[int, int, int] = (255, 255, 255), final: bool = False) -> FrameInputs:
        return cls(history.snapshot(step), history.snapshot(step - 1) if step > 0 else None, overlay,
                   overlay in history.available(), history.value_range(overlay, max_entropy),
                   np.array(history.values(overlay, step), dtype=np.float32), tuple(wash_rgb), final)


@dataclass(frozen=True)
class CellFrame:
    """One step of one canvas under one overlay: a cell's colour, text style and marks, for every position."""

    snapshot: StepSnapshot
    overlay: Overlay
    has_values: bool  # False: the overlay has no numbers for this run (a margin without candidates)
    value_range: tuple[float, float]
    values: np.ndarray  # (L,) the overlay's number per position, NaN where there is none
    background: np.ndarray  # (L, 3) uint8: the overlay colour, washed toward the window outside the span
    dark_text: np.ndarray  # (L,) True where black text (and marks) read better than white
    accepted_now: np.ndarray  # accepted this step and not already accepted with the same token a step before
    stable: np.ndarray  # accepted this step and the previous one with the same token
    renoised: np.ndarray
    locked: np.ndarray
    editable: np.ndarray
    token_ids: np.ndarray  # (L,) int64, the argmax
    variants: np.ndarray  # (L,) text style per cell: 2 * dark_text + renoised (see TEXT_VARIANTS)
    marks: np.ndarray  # (L,) the cell's marks as MARK_* bits, 0 for none (MARK_ON_LIGHT alone is no mark)

    @classmethod
    def build(
        cls,
        history: CanvasHistory,
        step: int,
        overlay: Overlay,
        max_entropy: float,
        wash_rgb: tuple[int, int, int] = (255, 255, 255),
        final: bool = False,
    ) -> CellFrame:
        """The frame of `history` at `step`; cells outside the span are blended toward `wash_rgb` (the palette's
        window colour) so they recede. `final`: the step is the last of a committed canvas, whose tokens all went
        into the text, so none is drawn as a renoised draft."""
        return cls.build_from(FrameInputs.of(history, step, overlay, max_entropy, wash_rgb, final))

    @classmethod
    def build_from(cls, inputs: FrameInputs) -> CellFrame:
        """The frame of inputs gathered from a history: safe on a worker thread while the history grows."""
        snap, prev, overlay, final = inputs.snapshot, inputs.previous, inputs.overlay, inputs.final
        accepted = np.asarray(snap.accepted, dtype=bool)
        if snap.step_index < 0:  # a document's canvas (models.work.document.canvas_snapshot): settled text
            stable = accepted.copy()
        elif prev is None:
            stable = np.zeros_like(accepted)
        else:
            stable = accepted & np.asarray(prev.accepted, dtype=bool) & (snap.argmax == prev.argmax)
        editable = np.asarray(snap.editable, dtype=bool)
        has_values, values = inputs.has_values, inputs.values
        low, high = inputs.value_range
        bg = colors.overlay_rgb(overlay, values, low, high)
        # Blend here rather than painting a translucent wash, so the text colour is chosen for what is shown.
        washed = bg * (1 - WASH_ALPHA) + np.asarray(inputs.wash_rgb, dtype=np.float64) * WASH_ALPHA
        bg = np.where(editable[:, None], bg, np.round(washed).astype(np.uint8))
        dark = colors.use_dark_text(bg)
        renoised = np.zeros_like(accepted) if final else ~accepted
        # Cells outside the edited span are held, not sampled: they are never "accepted now".
        accepted_now = accepted & ~stable & editable
        locked = np.asarray(snap.locked, dtype=bool)
        marks = accepted_now * MARK_ACCEPTED_NOW | stable * MARK_STABLE | locked * MARK_LOCKED
        marks = np.where(marks > 0, marks | dark * MARK_ON_LIGHT, 0)
        return cls(
            snapshot=snap,
            overlay=overlay,
            has_values=has_values,
            value_range=(low, high),
            values=values,
            background=bg,
            dark_text=dark,
            accepted_now=accepted_now,
            stable=stable,
            renoised=renoised,
            locked=locked,
            editable=editable,
            token_ids=np.asarray(snap.argmax, dtype=np.int64),
            variants=2 * dark.astype(np.int64) + renoised,
            marks=marks.astype(np.int64),
        )

    @classmethod
    def from_snapshots(
        cls,
        snapshots: Sequence[StepSnapshot],
        step: int = -1,
        overlay: Overlay = Overlay.ENTROPY,
        max_entropy: float = colors.DEFAULT_MAX_ENTROPY,
        wash_rgb: tuple[int, int, int] = (255, 255, 255),
    ) -> CellFrame:
        history = CanvasHistory()
        history.update(snapshots)
        return cls.build(history, step % len(snapshots), overlay, max_entropy, wash_rgb)


#: (dark text, renoised) of each text variant: black or white, dimmed where the sampler renoised the cell.
TEXT_VARIANTS = {0: (False, False), 1: (False, True), 2: (True, False), 3: (True, True)}


def text_rgba(variant: int) -> tuple[int, int, int, int]:
    dark, renoised = TEXT_VARIANTS[variant]
    level = 0 if dark else 255
    return level, level, level, RENOISED_ALPHA if renoised else 255

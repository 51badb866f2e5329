"""Turn an edit (a span to re-denoise, locks, fill-around) into per-canvas plans for the engine."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the engine (torch, transformers) is imported when a plan is made, not with this module
    from models.engine.sampling_loop import CanvasPlan


class EditError(ValueError):
    """The edit cannot be made as asked (span out of range, nothing left to change); the message says why."""


def _locked_mask(locks: Iterable[int], length: int) -> np.ndarray:
    mask = np.zeros(length, dtype=bool)
    for position in locks:
        if not 0 <= position < length:
            raise EditError(f"locked position {position} is outside the generated text (0 to {length - 1})")
        mask[position] = True
    return mask


def _plans(token_ids: np.ndarray, free: np.ndarray, locked: np.ndarray, canvas_length: int,
           end_ids: Collection[int]) -> list[CanvasPlan]:
    """Canvases up to the last one with a free position are planned; later ones are kept and appended as they are."""
    import torch

    from models.engine.sampling_loop import CanvasPlan

    # An end-of-turn at a free position cuts off every kept token after it, so it is pushed down exactly where kept
    # text (a lock, or text after the span) still follows: before the last kept token that is not itself an end.
    # After that token the answer must stay free to end where the model ends it.
    kept_text = ~free & np.isin(token_ids, list(end_ids), invert=True)
    kept_positions = np.flatnonzero(kept_text)
    last_kept = int(kept_positions[-1]) if len(kept_positions) else -1
    end_banned = free & (np.arange(len(token_ids)) < last_kept)
    plans = []
    for start in range(0, len(token_ids), canvas_length):
        window = slice(start, start + canvas_length)
        ids = torch.from_numpy(token_ids[window].astype(np.int64))
        canvas_free = free[window]
        plans.append(CanvasPlan(
            fixed_ids=ids,
            fixed_mask=torch.from_numpy(~canvas_free),
            locked_mask=torch.from_numpy(locked[window].copy()),
            denoise=bool(canvas_free.any()),
            end_banned=torch.from_numpy(end_banned[window].copy()),
            may_end=last_kept < start + canvas_length,
        ))
    return plans


def span_plans(token_ids: np.ndarray, canvas_length: int, span: tuple[int, int], locks: Iterable[int] = (),
               end_ids: Collection[int] = ()) -> list[CanvasPlan]:
    """Re-denoise [start, end) of the generated ids; locked positions and everything outside stay as they are."""
    length = len(token_ids)
    start, end = span
    if not 0 <= start < end <= length:
        raise EditError(f"span {start}:{end} is not inside the generated text (0:{length}); "
                        "it needs 0 <= start < end <= length")
    locked = _locked_mask(locks, length)
    free = np.zeros(length, dtype=bool)
    free[start:end] = True
    free &= ~locked
    if not free.any():
        raise EditError(f"nothing to re-denoise: every token in {start}:{end} is locked")
    return _plans(token_ids, free, locked, canvas_length, end_ids)


def fill_plans(token_ids: np.ndarray, canvas_length: int, locks: Iterable[int],
               end_ids: Collection[int] = ()) -> list[CanvasPlan]:
    """Re-denoise every unlocked position of each canvas that holds a lock ("fill around my edits")."""
    length = len(token_ids)
    locked = _locked_mask(locks, length)
    if not locked.any():
        raise EditError("fill around needs at least one locked token")
    free = np.zeros(length, dtype=bool)
    for start in range(0, length, canvas_length):
        if locked[start:start + canvas_length].any():
            free[start:start + canvas_length] = ~locked[start:start + canvas_length]
    if not free.any():
        raise EditError("nothing to fill: every token of the locked canvases is locked")
    return _plans(token_ids, free, locked, canvas_length, end_ids)

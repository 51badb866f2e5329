"""Keeping Python's garbage collector off the window's frames (and the server's answers).

After a model loads, the process holds some 400,000 objects the collector tracks (the modules of torch, transformers,
Qt and the plots). A full collection walks every one of them, 150-300 ms on a laptop's cores, and it holds the
interpreter while it runs, so every thread stops, the GUI thread too, whichever thread set it off. `gc.freeze()`
moves the objects alive now into a generation no collection walks; a full collection then walks only what was made
since, a few milliseconds.

- `settle_all()` after a model loads (or a window is built): everything frozen before is examined once more (an old
  model that died in a reference cycle is freed here), then what is alive is frozen.
- `settle_recent()` after a run ends, or a server connection is made: what is not frozen is collected and the rest
  frozen, so the objects of a long session do not pile up in the collections of later runs. It walks only what
  is not frozen yet: cheap.
- `hold_full_collections()` while a run streams: young collections go on (they walk a step's new objects), full
  ones wait for the run's end (`settle_recent` makes one there). One full collection in mid-run still walked what
  the run had made so far: 15-21 ms at canvas 256, a gap in the window's frames.
"""

from __future__ import annotations

import gc


def settle_all() -> None:
    """Collect everything, then freeze what is left (`gc.get_freeze_count()` walks all of it: tests only)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


_HELD_THRESHOLD = 1_000_000  # collections of the middle generation before a full one: never, within a run
_threshold: list[int] = []  # the full-collection threshold a hold replaced


def hold_full_collections() -> None:
    if not _threshold:
        young, middle, full = gc.get_threshold()
        _threshold.append(full)
        gc.set_threshold(young, middle, _HELD_THRESHOLD)


def settle_recent() -> None:
    """Collect what is not frozen yet, then freeze what is left of it; full collections are no longer held."""
    if _threshold:
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, _threshold.pop())
    gc.collect()
    gc.freeze()


def walked_by_full_collection() -> int:
    """How many objects a full collection would walk now: the tracked objects that are not frozen."""
    return sum(len(gc.get_objects(generation)) for generation in range(3))


__all__ = ["hold_full_collections", "settle_all", "settle_recent", "walked_by_full_collection"]

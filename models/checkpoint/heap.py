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
"""

from __future__ import annotations

import gc


def settle_all() -> None:
    """Collect everything, then freeze what is left (`gc.get_freeze_count()` walks all of it: tests only)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def settle_recent() -> None:
    """Collect what is not frozen yet, then freeze what is left of it."""
    gc.collect()
    gc.freeze()


def walked_by_full_collection() -> int:
    """How many objects a full collection would walk now: the tracked objects that are not frozen."""
    return sum(len(gc.get_objects(generation)) for generation in range(3))


__all__ = ["settle_all", "settle_recent", "walked_by_full_collection"]

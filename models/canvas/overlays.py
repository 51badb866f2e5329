"""What the canvas views can colour cells by, computed with numpy once per recorded step of a canvas's history.

Four overlays, each a number per position at each step (NaN where there is none):

- entropy: the entropy of the position's temperature-scaled distribution at that step (the recorded value);
- revisions: how often the position's argmax changed from one step to the next, up to and including that step;
- commit order: the step at which the position settled, as known at that step: the first step s such that from s
  through the shown step its argmax never changed and the sampler accepted it at every one of those steps. NaN while
  it is not accepted at the shown step. At the last step this is when the position settled for good;
- probability margin: top-1 minus top-2 probability of the recorded candidates (needs top-k of at least 2).

Commit order looks only backwards, so a replayed step shows what a viewer saw live at that step, never the future.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np

from models.work.events import StepSnapshot


class Overlay(str, enum.Enum):
    ENTROPY = "entropy"
    REVISIONS = "revisions"
    COMMIT_ORDER = "commit order"
    MARGIN = "probability margin"


#: One line per overlay: what its colour means (the toolbar's tooltips and the legends use it).
DESCRIPTIONS: dict[Overlay, str] = {
    Overlay.ENTROPY: "How unsure the model is at this step: dark is confident, bright is unsure",
    Overlay.REVISIONS: "How often each position's token changed up to this step: dark never, bright often",
    Overlay.COMMIT_ORDER: "The step from which each position stayed accepted with the same token: dark settled "
    "early, bright late, grey not settled yet",
    Overlay.MARGIN: "Top-1 minus top-2 candidate probability: dark is a clear winner, bright a close call "
    "(needs candidates, top-k 2 or more)",
}
NO_CANDIDATES = "this run recorded no candidates (top-k off), so it has no probability margin"


class CanvasHistory:
    """Per-step arrays of one canvas's recorded steps, extended in O(canvas) per new step while a run streams.

    `update(snapshots)` takes the whole history each time (as the views get it); when it extends the one seen
    before (same snapshot objects, more of them) only the new steps are computed.
    """

    def __init__(self) -> None:
        self._snaps: list[StepSnapshot] = []
        self.length = 0
        self._entropy = self._revisions = self._settled = self._margin = np.zeros((0, 0))
        self.has_margin = False

    @property
    def steps(self) -> int:
        return len(self._snaps)

    def snapshot(self, step: int) -> StepSnapshot:
        return self._snaps[step]

    def update(self, snapshots: Sequence[StepSnapshot]) -> None:
        old = self._snaps
        n = len(old)
        extends = 0 < n <= len(snapshots) and snapshots[0] is old[0] and snapshots[n - 1] is old[n - 1]
        if extends and len(snapshots) == n:
            return
        if not extends:
            self._reset(snapshots)
            n = 0
        else:
            self._snaps = list(snapshots)
        self._grow(len(snapshots))
        for s in range(n, len(snapshots)):
            self._add_row(s)

    def _reset(self, snapshots: Sequence[StepSnapshot]) -> None:
        self._snaps = list(snapshots)
        self.length = len(snapshots[0].argmax) if snapshots else 0
        self.has_margin = bool(snapshots) and all(
            s.top_probs is not None and s.top_probs.ndim == 2 and s.top_probs.shape[1] >= 2 for s in snapshots
        )
        self._entropy = self._revisions = self._settled = self._margin = np.zeros((0, self.length))

    def _grow(self, steps: int) -> None:
        """Room for `steps` rows; capacity doubles so a streamed canvas reallocates O(log steps) times."""
        if self._entropy.shape[0] >= steps:
            return
        capacity = max(steps, 2 * self._entropy.shape[0], 8)
        for name, fill in (("_entropy", np.nan), ("_revisions", 0), ("_settled", np.nan), ("_margin", np.nan)):
            old = getattr(self, name)
            new = np.full((capacity, self.length), fill, dtype=np.int32 if name == "_revisions" else np.float32)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def _add_row(self, s: int) -> None:
        snap = self._snaps[s]
        accepted = np.asarray(snap.accepted, dtype=bool)
        self._entropy[s] = snap.entropy
        if s == 0:
            self._revisions[0] = 0
            self._settled[0] = np.where(accepted, 0.0, np.nan)
        else:
            prev = self._snaps[s - 1]
            same = np.asarray(snap.argmax) == np.asarray(prev.argmax)
            self._revisions[s] = self._revisions[s - 1] + ~same
            # Still settled since the same step when accepted now with the token of the step before (which was
            # settled then); a fresh acceptance starts a new streak here.
            kept = accepted & same & ~np.isnan(self._settled[s - 1])
            self._settled[s] = np.where(kept, self._settled[s - 1], np.where(accepted, float(s), np.nan))
        if self.has_margin and snap.top_probs is not None and snap.top_probs.shape[1] >= 2:
            probs = np.asarray(snap.top_probs, dtype=np.float32)
            self._margin[s] = probs[:, 0] - probs[:, 1]
        if not (snap.top_probs is not None and snap.top_probs.ndim == 2 and snap.top_probs.shape[1] >= 2):
            self.has_margin = False

    def available(self) -> frozenset[Overlay]:
        return frozenset(Overlay) if self.has_margin else frozenset(Overlay) - {Overlay.MARGIN}

    def values(self, overlay: Overlay, step: int) -> np.ndarray:
        """(canvas,) float32 values of `overlay` at `step`; all NaN for a margin the run did not record."""
        if overlay is Overlay.MARGIN and not self.has_margin:
            return np.full(self.length, np.nan, dtype=np.float32)
        return np.asarray(self._table(overlay)[step], dtype=np.float32)

    def table(self, overlay: Overlay) -> np.ndarray:
        """(steps, canvas) values of `overlay` at every step."""
        if overlay is Overlay.MARGIN and not self.has_margin:
            return np.full((self.steps, self.length), np.nan, dtype=np.float32)
        return np.asarray(self._table(overlay)[: self.steps], dtype=np.float32)

    def _table(self, overlay: Overlay) -> np.ndarray:
        return {
            Overlay.ENTROPY: self._entropy,
            Overlay.REVISIONS: self._revisions,
            Overlay.COMMIT_ORDER: self._settled,
            Overlay.MARGIN: self._margin,
        }[overlay]

    def value_range(self, overlay: Overlay, max_entropy: float) -> tuple[float, float]:
        """The (low, high) the colours span, fixed for the whole history so a colour means one value at every step:
        entropy 0..max_entropy, revisions 0..most changes, commit order 0..last step, margin 0..1."""
        if overlay is Overlay.ENTROPY:
            return 0.0, float(max_entropy)
        if overlay is Overlay.REVISIONS:
            most = int(self._revisions[self.steps - 1].max()) if self.steps and self.length else 0
            return 0.0, float(max(1, most))
        if overlay is Overlay.COMMIT_ORDER:
            return 0.0, float(max(1, self.steps - 1))
        return 0.0, 1.0

    def changes(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(revisions, step of the last change; 0 when never) per position at `step`, for tooltips."""
        counts = self._revisions[step]
        last = np.zeros(self.length, dtype=np.int64)
        for s in range(step, 0, -1):  # walks back only as far as the positions still unresolved
            todo = last == 0
            if not todo.any():
                break
            changed = (self._revisions[s] != self._revisions[s - 1]) & todo
            last[changed] = s
        return counts.astype(np.int64), last

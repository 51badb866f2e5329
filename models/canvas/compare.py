"""Two runs side by side: at which step each position's drafts first disagree, where they differ at a step, and
how each run went (steps, corrector sweeps, the step each position settled at, mean entropy per step)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.canvas.overlays import CanvasHistory, Overlay
from models.work.events import StepSnapshot
from models.work.runs import Run

NEVER = -1  # the drafts agree at every step compared


@dataclass(frozen=True)
class CanvasComparison:
    canvas: int
    first: list[StepSnapshot]
    second: list[StepSnapshot]
    divergence: np.ndarray  # (canvas_length,) int: first step whose drafts differ there, NEVER if none

    @property
    def steps(self) -> int:
        return max(len(self.first), len(self.second))

    def at(self, step: int) -> tuple[StepSnapshot | None, StepSnapshot | None]:
        """Each run's step (a run that already stopped shows its last step)."""
        return (_clamped(self.first, step), _clamped(self.second, step))

    def differ(self, step: int) -> np.ndarray:
        """(canvas_length,) bool: positions whose drafts differ at this step."""
        a, b = self.at(step)
        if a is None or b is None:
            return np.zeros(len(self.divergence), dtype=bool)
        return np.asarray(a.argmax) != np.asarray(b.argmax)


@dataclass(frozen=True)
class CanvasSummary:
    """How one run denoised one canvas."""

    steps: int  # forwards, corrector sweeps included
    sweeps: int  # of which corrector sweeps
    settled: np.ndarray  # (canvas_length,) float32: the step each position settled at for good; NaN: never
    mean_entropy: np.ndarray  # (steps,) float64: mean entropy at each step

    def text(self) -> str:
        sweeps = f" ({self.sweeps} corrector sweep{'s' if self.sweeps != 1 else ''})" if self.sweeps else ""
        never = int(np.isnan(self.settled).sum())
        settled = self.settled[~np.isnan(self.settled)]
        when = f"settled by step {int(settled.max()) + 1}, half by step {int(np.median(settled)) + 1}" if len(
            settled) else "nothing settled"
        return f"{self.steps} steps{sweeps}; {when}" + (f"; {never} never settled" if never else "")


def summarize(steps: list[StepSnapshot]) -> CanvasSummary | None:
    """One run's canvas at a glance, from its recorded steps (None if it has none)."""
    if not steps:
        return None
    history = CanvasHistory()
    history.update(steps)
    return CanvasSummary(steps=len(steps), sweeps=sum(s.corrector for s in steps),
                         settled=history.values(Overlay.COMMIT_ORDER, len(steps) - 1),
                         mean_entropy=np.array([s.mean_entropy for s in steps], dtype=np.float64))


def _clamped(steps: list[StepSnapshot], step: int) -> StepSnapshot | None:
    return steps[min(step, len(steps) - 1)] if steps else None


def divergence(first: list[StepSnapshot], second: list[StepSnapshot]) -> np.ndarray:
    """For each position, the first step at which the two drafts disagree (a run that stopped earlier is compared
    by its last step), or NEVER."""
    if not first or not second:
        length = len((first or second)[0].argmax) if (first or second) else 0
        return np.full(length, NEVER, dtype=np.int64)
    steps = max(len(first), len(second))
    a = np.stack([first[min(i, len(first) - 1)].argmax for i in range(steps)])
    b = np.stack([second[min(i, len(second) - 1)].argmax for i in range(steps)])
    differs = a != b
    return np.where(differs.any(axis=0), differs.argmax(axis=0), NEVER).astype(np.int64)


def compare_runs(first: Run, second: Run) -> list[CanvasComparison]:
    """One comparison per canvas either run denoised, in order."""
    canvases = sorted(set(first.canvas_indices) | set(second.canvas_indices))
    return [CanvasComparison(c, first.steps(c), second.steps(c), divergence(first.steps(c), second.steps(c)))
            for c in canvases]

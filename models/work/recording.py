"""Every step of a generation, kept for replay: O(steps x canvas) memory, never logits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.work.events import CanvasCommitted, Event, GenerationResult, StepSnapshot


@dataclass
class CanvasRecord:
    steps: list[StepSnapshot] = field(default_factory=list)
    committed: CanvasCommitted | None = None


@dataclass
class GenerationRecord:
    """Snapshots per canvas, the committed canvases and the result, filled as events arrive."""

    canvas_length: int
    canvases: dict[int, CanvasRecord] = field(default_factory=dict)
    result: GenerationResult | None = None

    def add(self, event: Event) -> None:
        if isinstance(event, StepSnapshot):
            self.canvases.setdefault(event.canvas_index, CanvasRecord()).steps.append(event)
        elif isinstance(event, CanvasCommitted):
            self.canvases.setdefault(event.canvas_index, CanvasRecord()).committed = event
        elif isinstance(event, GenerationResult):
            self.result = event

    def copy(self) -> GenerationRecord:
        """A copy that further events to this record do not reach (snapshots themselves are immutable)."""
        canvases = {i: CanvasRecord(list(r.steps), r.committed) for i, r in self.canvases.items()}
        return GenerationRecord(self.canvas_length, canvases, self.result)

    @property
    def canvas_indices(self) -> list[int]:
        return sorted(self.canvases)

    def steps(self, canvas: int) -> list[StepSnapshot]:
        record = self.canvases.get(canvas)
        return record.steps if record else []

    def newest(self) -> tuple[int, int] | None:
        """(canvas, step) of the newest recorded step."""
        for canvas in reversed(self.canvas_indices):
            if self.canvases[canvas].steps:
                return canvas, len(self.canvases[canvas].steps) - 1
        return None

    def draft_ids(self) -> np.ndarray:
        """The generated ids as they stand: committed canvases, then the newest draft of the one in progress."""
        parts = []
        for canvas in self.canvas_indices:
            record = self.canvases[canvas]
            if record.committed is not None:
                parts.append(record.committed.token_ids)
            elif record.steps:
                parts.append(record.steps[-1].argmax)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

"""What the inspector shows for one position of a canvas: its candidates at a step, and its story across the steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.work.events import StepSnapshot


@dataclass(frozen=True)
class Candidate:
    token_id: int
    probability: float


@dataclass(frozen=True)
class Timeline:
    """One position across a canvas's recorded steps."""

    argmax: np.ndarray  # (steps,) the draft token at each step
    entropy: np.ndarray  # (steps,)
    accepted: np.ndarray  # (steps,) bool: the sampler kept the token it drew
    locked: bool  # held by the user for the whole run
    settled: int | None  # the step from which its draft never changed again and was accepted (None: never)


def candidates(snapshot: StepSnapshot, position: int) -> list[Candidate]:
    """The recorded top-k at this step and position, most likely first (empty when the run recorded none). Entries
    of probability exactly 0 are left out: at a locked position (one-hot) their ids are arbitrary ties."""
    if snapshot.top_ids is None or snapshot.top_probs is None:
        return []
    return [Candidate(int(i), float(p)) for i, p in zip(snapshot.top_ids[position], snapshot.top_probs[position],
                                                         strict=True) if p > 0]


def timeline(steps: list[StepSnapshot], position: int) -> Timeline:
    argmax = np.array([int(s.argmax[position]) for s in steps], dtype=np.int64)
    entropy = np.array([float(s.entropy[position]) for s in steps], dtype=np.float32)
    accepted = np.array([bool(s.accepted[position]) for s in steps], dtype=bool)
    return Timeline(argmax, entropy, accepted, bool(steps[-1].locked[position]) if steps else False,
                    settled_step(argmax, accepted))


def settled_step(argmax: np.ndarray, accepted: np.ndarray) -> int | None:
    """The first step after which the draft token never changes and every step accepts it."""
    if not len(argmax) or not accepted[-1]:
        return None
    step = len(argmax) - 1
    while step > 0 and argmax[step - 1] == argmax[-1] and accepted[step - 1]:
        step -= 1
    return step

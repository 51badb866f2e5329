"""A canvas's recorded steps as a few stacked arrays (for session files and exports), and back, checked."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from models.inputs.json_fields import shown
from models.work.events import StepSnapshot

#: Per-position arrays of a StepSnapshot: name -> (numpy kind letters allowed, stored dtype). Optional ones may be None.
ARRAYS: dict[str, tuple[str, str]] = {
    "argmax": ("iu", "<i4"),
    "accepted": ("b", "|b1"),
    "entropy": ("f", "<f4"),
    "locked": ("b", "|b1"),
    "editable": ("b", "|b1"),
    "top_ids": ("iu", "<i4"),
    "top_probs": ("f", "<f4"),
}
OPTIONAL = frozenset({"top_ids", "top_probs"})
#: Per-step numbers, stored as the columns of one float64 array; "corrector" is 1.0 for a DDIM corrector sweep.
SCALARS = ("mean_entropy", "num_accepted", "temperature", "elapsed", "corrector")
#: Files saved before there were corrector sweeps have only the first four columns: every step is a step.
OLD_SCALARS = 4


class StepDataError(ValueError):
    """Recorded steps that cannot be right (wrong shapes, types, ids outside the vocabulary, non-finite values)."""


def _fields() -> set[str]:
    return {f.name for f in dataclasses.fields(StepSnapshot)}


def stack_steps(steps: list[StepSnapshot]) -> dict[str, np.ndarray]:
    """{name: (steps, canvas[, k]) array} for the per-position fields and "scalars": (steps, 5) float64."""
    arrays: dict[str, np.ndarray] = {}
    for name, (_kinds, dtype) in ARRAYS.items():
        if name not in _fields():
            continue
        values = [getattr(step, name) for step in steps]
        if name in OPTIONAL and any(v is None for v in values):
            continue
        arrays[name] = np.stack([np.asarray(v) for v in values]).astype(dtype)
    arrays["scalars"] = np.array([[float(getattr(step, name)) for name in SCALARS] for step in steps],
                                 dtype="<f8").reshape(len(steps), len(SCALARS))
    return arrays


def unstack_steps(canvas_index: int, arrays: dict[str, Any], canvas_length: int, vocab_size: int,
                  count: int) -> list[StepSnapshot]:
    """The snapshots back from stack_steps' arrays; raises StepDataError on anything that does not fit."""
    known = _fields()
    for name in arrays:
        if name != "scalars" and (name not in ARRAYS or name not in known):
            raise StepDataError(f"unknown step array {shown(name)}")
    for name, (kinds, _dtype) in ARRAYS.items():
        if name not in known:
            continue
        array = arrays.get(name)
        if array is None:
            if name in OPTIONAL:
                continue
            raise StepDataError(f"step array {name!r} is missing")
        if not isinstance(array, np.ndarray) or array.dtype.kind not in kinds:
            raise StepDataError(f"step array {name!r} has the wrong type")
        extra = array.shape[2:] if name in OPTIONAL else ()
        if array.shape[:2] != (count, canvas_length) or (name in OPTIONAL and array.ndim != 3) or (
                name not in OPTIONAL and array.ndim != 2):
            raise StepDataError(f"step array {name!r} has shape {array.shape}, expected ({count}, {canvas_length}"
                                f"{', k' if extra else ''})")
    for name in ("argmax", "top_ids"):
        ids = arrays.get(name)
        if ids is not None and ids.size and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
            raise StepDataError(f"step array {name!r} holds ids outside the vocabulary (0 to {vocab_size - 1})")
    for name in ("entropy", "top_probs"):
        values = arrays.get(name)
        if values is not None and values.size and not (np.isfinite(values).all() and float(values.min()) >= 0):
            raise StepDataError(f"step array {name!r} holds negative or non-finite values")
    if ("top_ids" in arrays) != ("top_probs" in arrays) or (
            "top_ids" in arrays and arrays["top_ids"].shape != arrays["top_probs"].shape):
        raise StepDataError("candidate ids and probabilities do not match")
    scalars = arrays.get("scalars")
    if (not isinstance(scalars, np.ndarray) or scalars.dtype.kind != "f" or scalars.ndim != 2
            or scalars.shape not in ((count, len(SCALARS)), (count, OLD_SCALARS)) or not np.isfinite(scalars).all()):
        raise StepDataError("the per-step numbers are missing, of the wrong shape or not finite")
    if scalars.shape[1] == OLD_SCALARS:
        scalars = np.concatenate([scalars, np.zeros((count, 1))], axis=1)
    if not np.isin(scalars[:, -1], (0.0, 1.0)).all():
        raise StepDataError("the per-step corrector flags must be 0 or 1")
    steps = []
    for i in range(count):
        values: dict[str, Any] = {name: _frozen(arrays[name][i], ARRAYS[name][1])
                                  for name in ARRAYS if name in arrays}
        mean, accepted, temperature, elapsed, corrector = (float(x) for x in scalars[i])
        steps.append(StepSnapshot(canvas_index=canvas_index, step_index=i, mean_entropy=mean,
                                  num_accepted=int(accepted), temperature=temperature, elapsed=elapsed,
                                  corrector=corrector == 1.0, **values))
    return steps


def _frozen(row: np.ndarray, dtype: str) -> np.ndarray:
    # The engine's own dtypes (int64 ids, bool masks, float32 entropies), read-only as snapshots are immutable.
    target = {"<i4": np.int64, "|b1": np.bool_, "<f4": np.float32}[dtype]
    out = np.array(row, dtype=target)
    out.setflags(write=False)
    return out

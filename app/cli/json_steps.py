"""How `--json` prints one denoising step: the draft, what was accepted, entropies and, when recorded, the top-k."""

from __future__ import annotations

from typing import Any

import numpy as np

from models.work.events import StepSnapshot


def step_json(step: StepSnapshot) -> dict[str, Any]:
    """One step as plain JSON values; `top_k` only when the run recorded candidates (top_k > 0); `corrector` only
    for a DDIM corrector sweep."""
    out: dict[str, Any] = {"argmax": step.argmax.tolist(), "accepted": step.accepted.tolist(),
                           "entropy": [round(float(x), 6) for x in step.entropy]}
    if step.corrector:
        out["corrector"] = True
    if step.top_ids is not None and step.top_probs is not None:
        out["top_k"] = {"ids": step.top_ids.tolist(), "probs": _float32_rows(step.top_probs)}
    return out


def _float32_rows(values: np.ndarray) -> list[list[float]]:
    # The shortest decimal that reads back as the same float32 (str of a numpy float32): exact, and half the
    # characters of the float64 expansion.
    return [[float(str(x)) for x in row] for row in values.astype(np.float32)]

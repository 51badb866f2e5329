"""A run's recorded steps as data files (CSV, JSON), and which run and canvas an export means. No Qt.

CSV: one row per step and position, canvases in order: run, canvas_index, step, position, token_id, token,
accepted, entropy, locked, editable, then top1_id, top1_prob ... when the run recorded candidates. JSON: the run,
then per canvas its steps with the same arrays as `main.py generate --json` (argmax, accepted, entropy, and top_k
when recorded) plus locked, editable and the step's numbers, and the raw text of every token id that occurs.
Floats are written as the shortest decimal that reads back as the same float32, so the files hold exactly what was
recorded.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from models.work.events import StepSnapshot
from models.work.runs import Run
from models.work.workspace import Workspace

FORMAT = "diffusion-desk-steps"
VERSION = 1


class ExportError(ValueError):
    """What was asked cannot be exported (no such run or canvas, nothing recorded); the message says what there is."""


def export_target(ws: Workspace, run_id: int | None = None, canvas: int | None = None) -> tuple[Run, int]:
    """(run, 0-based canvas) to export. By default the run on screen when the session was saved (else the run
    whose steps the scrubber replays: the last one kept in the text), and the canvas on screen if that run has it,
    else the run's first canvas. `canvas` is 0-based here."""
    recorded = [run for run in ws.runs.values() if run.canvas_indices]
    if not recorded:
        raise ExportError("the session holds no recorded steps to export")
    if run_id is None:
        run = ws.replay_run()
        if run is None or not run.canvas_indices:
            run = recorded[-1]
    else:
        run = ws.runs.get(run_id)
        if run is None or not run.canvas_indices:
            have = ", ".join(f"#{r.id}" for r in recorded)
            raise ExportError(f"the session has no run #{run_id} with recorded steps (it has {have})")
    if canvas is None:
        shown = ws.position.canvas
        return run, shown if shown in run.canvas_indices else run.canvas_indices[0]
    if canvas not in run.canvas_indices:
        have = ", ".join(str(c + 1) for c in run.canvas_indices)
        raise ExportError(f"run #{run.id} has no canvas {canvas + 1} (its canvases: {have})")
    return run, canvas


def _f32(value: float) -> float | None:
    """The shortest decimal that reads back as the same float32; None (JSON null, an empty CSV cell) if not finite."""
    value = np.float32(value)
    return float(str(value)) if math.isfinite(value) else None


def _k(steps: Iterable[StepSnapshot]) -> int:
    """Candidates per position, if every step recorded them (0 otherwise)."""
    ks = {s.top_ids.shape[1] if s.top_ids is not None and s.top_probs is not None else 0 for s in steps}
    return ks.pop() if len(ks) == 1 else 0


def steps_csv(run: Run, canvases: Iterable[int], token_text: Callable[[int], str]) -> bytes:
    canvases = list(canvases)
    k = _k(s for c in canvases for s in run.steps(c))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["run", "canvas_index", "step", "position", "token_id", "token", "accepted", "entropy", "locked",
              "editable"]  # fmt: skip
    writer.writerow(header + [f"top{i + 1}_{what}" for i in range(k) for what in ("id", "prob")])
    for canvas in canvases:
        for snap in run.steps(canvas):
            entropy = [_f32(e) for e in snap.entropy.tolist()]
            columns = zip(snap.argmax.tolist(), snap.accepted.tolist(), entropy, snap.locked.tolist(),
                          snap.editable.tolist(), strict=True)  # fmt: skip
            for position, (token, accepted, h, locked, editable) in enumerate(columns):
                row = [run.id, canvas, snap.step_index, position, token, token_text(token), int(accepted),
                       "" if h is None else h, int(locked), int(editable)]  # fmt: skip
                for i in range(k):
                    row += [int(snap.top_ids[position, i]), _f32(snap.top_probs[position, i])]
                writer.writerow(row)
    return out.getvalue().encode("utf-8")


def _step_json(snap: StepSnapshot) -> dict[str, Any]:
    out: dict[str, Any] = {
        "step": snap.step_index,
        "argmax": snap.argmax.tolist(),
        "accepted": snap.accepted.tolist(),
        "entropy": [_f32(e) for e in snap.entropy.tolist()],
        "locked": snap.locked.tolist(),
        "editable": snap.editable.tolist(),
        "mean_entropy": _f32(snap.mean_entropy),
        "num_accepted": snap.num_accepted,
        "temperature": _f32(snap.temperature),
        "elapsed": _f32(snap.elapsed),
        "corrector": snap.corrector,
    }
    if snap.top_ids is not None and snap.top_probs is not None:
        probs = [[_f32(p) for p in row] for row in snap.top_probs.tolist()]
        out["top_k"] = {"ids": snap.top_ids.tolist(), "probs": probs}
    return out


def steps_json(run: Run, canvases: Iterable[int], token_text: Callable[[int], str]) -> bytes:
    canvases = list(canvases)
    ids = sorted({int(i) for c in canvases for s in run.steps(c) for i in np.unique(s.argmax)})
    data = {
        "format": FORMAT,
        "version": VERSION,
        "run": run.id,
        "kind": run.kind.value,
        "fate": run.fate.value,
        "seed": run.seed,
        "sampler": run.settings.sampler,
        "settings": run.settings.to_dict(),
        "span": list(run.span) if run.span else None,
        "canvas_length": run.canvas_length,
        "canvases": [{"canvas_index": c, "steps": [_step_json(s) for s in run.steps(c)]} for c in canvases],
        "tokens": {str(i): token_text(i) for i in ids},
    }
    return json.dumps(data, allow_nan=False, ensure_ascii=False).encode("utf-8")

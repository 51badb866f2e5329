"""What an export writes, as one immutable request taken from the workspace, and the work that writes it.

`export_request` reads the workspace (on the GUI thread, or in the command line) and copies what the export needs;
`perform` does the work anywhere (the window runs it on a worker thread) and returns what it wrote, or None when
cancelled. The data and Markdown exports import no Qt; the grid images import it only when they run.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.export.step_data import ExportError, export_target, steps_csv, steps_json
from models.export.text_files import conversation_markdown
from models.inputs.safe_files import write_atomic
from models.work.runs import Run
from models.work.workspace import Workspace
from widgets.canvas.colors import DEFAULT_MAX_ENTROPY

#: Export kinds: what the window's menu calls each, and the file suffix it writes.
KINDS: dict[str, tuple[str, str]] = {
    "gif": ("Denoising animation (GIF)…", ".gif"),
    "apng": ("Denoising animation (APNG)…", ".apng"),
    "pngs": ("A PNG per step…", ".png"),
    "heatmap": ("Entropy heatmap (PNG)…", ".png"),
    "csv": ("Step data (CSV)…", ".csv"),
    "json": ("Step data (JSON)…", ".json"),
    "md": ("Conversation (Markdown)…", ".md"),
}
IMAGES = frozenset({"gif", "apng", "pngs"})
_BY_SUFFIX = {".gif": "gif", ".apng": "apng", ".png": "heatmap", ".csv": "csv", ".json": "json", ".md": "md"}


def kind_of(path: str, per_step: bool = False) -> str:
    """The export a file name asks for: .gif, .apng, .png (the heatmap; with `per_step`, a PNG per step), .csv,
    .json, .md."""
    suffix = Path(path).suffix.lower()
    kind = _BY_SUFFIX.get(suffix)
    if kind is None:
        raise ExportError(f"cannot export to {path!r}: the name must end in .gif, .apng, .png, .csv, .json or .md")
    if per_step:
        if kind != "heatmap":
            raise ExportError("--per-step writes PNG files: name the output OUT.png")
        return "pngs"
    return kind


@dataclass(frozen=True)
class ExportRequest:
    kind: str
    path: str
    run: Run | None  # a copy: later steps of a running run do not reach it (None for Markdown)
    canvas: int  # the canvas of image exports (0-based)
    canvases: tuple[int, ...]  # the canvases of data exports
    tokens: dict[int, str]  # raw text of every token id the export may show
    max_entropy: float
    markdown: str = ""
    style: Any = None  # app.export.images.FrameStyle for the grid images

    def token_text(self, token_id: int) -> str:
        return self.tokens.get(int(token_id), str(token_id))

    @property
    def caption(self) -> str:
        return f"Run #{self.run.id} ({self.run.kind.value}, seed {self.run.seed}) · canvas {self.canvas + 1}"


def export_request(ws: Workspace, kind: str, path: str, run_id: int | None = None, canvas: int | None = None,
                   style: Any = None) -> ExportRequest:  # fmt: skip
    """What exporting `kind` to `path` takes from `ws`. `canvas` is 0-based; None: see export_target (and, for the
    data exports, every canvas of the run)."""
    if kind == "md":
        if ws.document is None:
            raise ExportError("the session holds no conversation to export")
        return ExportRequest(kind, path, None, 0, (), {}, 0.0, markdown=conversation_markdown(ws))
    run, chosen = export_target(ws, run_id, canvas)
    canvases = tuple(run.canvas_indices) if canvas is None else (chosen,)
    shown = canvases if kind in ("csv", "json") else (chosen,)
    ids = {int(i) for c in shown for step in run.steps(c) for i in set(step.argmax.tolist())}
    top = max_entropy(ws)
    return ExportRequest(kind, path, run.copy(), chosen, canvases, raw_texts(ws, ids), top, style=style)


def raw_texts(ws: Workspace, ids: set[int]) -> dict[int, str]:
    """Each id's raw token (as the grid shows it), looked up here so the worker never touches the tokenizer."""
    tokenizer = ws.tokenizer
    if tokenizer is None:
        return {i: str(i) for i in ids}
    ordered = sorted(ids)
    return {i: t or "" for i, t in zip(ordered, tokenizer.convert_ids_to_tokens(ordered), strict=True)}


def max_entropy(ws: Workspace) -> float:
    """ln(vocabulary size), the top of the entropy colours, as in the window."""
    return math.log(ws.model.vocab_size) if ws.model is not None else DEFAULT_MAX_ENTROPY


def perform(request: ExportRequest, progress: Callable[[int, int], None], cancel: threading.Event) -> str | None:
    """Write the export; a one-line description of what was written, or None if cancelled first."""
    kind, path = request.kind, request.path
    if kind == "md":
        write_atomic(path, request.markdown.encode("utf-8"))
        return f"wrote the conversation to {path}"
    run = request.run
    if kind in ("csv", "json"):
        write = steps_csv if kind == "csv" else steps_json
        write_atomic(path, write(run, request.canvases, request.token_text))
        steps = sum(len(run.steps(c)) for c in request.canvases)
        return f"wrote {steps} steps of run #{run.id} to {path}"
    steps = run.steps(request.canvas)
    if kind == "heatmap":
        from app.export.images import heatmap_png

        write_atomic(path, heatmap_png(steps, request.max_entropy))
        return f"wrote the heatmap of run #{run.id}, canvas {request.canvas + 1} ({len(steps)} steps) to {path}"
    from app.export.images import FrameRenderer, FrameStyle, export_animation, export_step_pngs

    style = request.style or FrameStyle.default()
    renderer = FrameRenderer(steps, request.token_text, request.max_entropy, style, request.caption)
    if kind == "pngs":
        paths = export_step_pngs(path, renderer, progress, cancel)
        return None if paths is None else f"wrote {len(paths)} PNGs, {paths[0].name} to {paths[-1].name}"
    frames = export_animation(path, renderer, progress, cancel)
    return None if frames is None else f"wrote {frames} frames of run #{run.id}, canvas {request.canvas + 1} to {path}"

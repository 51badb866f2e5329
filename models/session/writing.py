"""Writing a workspace as a session file (format version 2): a zip of one JSON manifest, PNG images and arrays.

The layout is described in docs/session-format.md. Arrays are plain .npy entries (read back with pickling off);
images are PNG (lossless). The file is written whole to a temporary file and renamed, so a failure never leaves a
half-written session and the previous file stays intact.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from typing import Any

import numpy as np

from models.session.step_arrays import stack_steps
from models.work.conversation import TurnNode
from models.work.document import Document
from models.work.events import GenerationResult
from models.work.prompts import Prompt
from models.work.runs import Run
from models.work.vocabulary import RecordedTokenizer, record_tokens
from models.work.workspace import Workspace

FORMAT = "diffusion-desk-session"
VERSION = 2
SUFFIX = ".ddsession"
MANIFEST = "session.json"


class SessionError(ValueError):
    """A session file cannot be read or written; the message says why."""


class _Writer:
    def __init__(self, vocab_size: int) -> None:
        self.buffer = io.BytesIO()
        # Level 1: a session of 20 four-canvas runs saved in a third of level 6's time, 3% larger.
        self.zip = zipfile.ZipFile(self.buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self.images: dict[int, str] = {}  # id(PIL image) -> its entry: one image shared by turns and runs is kept once
        # Every token id the session uses, for its token table, as a mask over the vocabulary (np.unique over every
        # step took a sixth of a save); ids outside it are not in the table anyway.
        self.used = np.zeros(vocab_size, dtype=bool)

    def use(self, ids: np.ndarray) -> None:
        flat = np.asarray(ids).ravel()
        self.used[flat[(flat >= 0) & (flat < self.used.size)]] = True

    def array(self, name: str, array: np.ndarray, compress: bool = True) -> str:
        out = io.BytesIO()
        np.lib.format.write_array(out, np.ascontiguousarray(array), allow_pickle=False)
        self.zip.writestr(name, out.getvalue(), compress_type=None if compress else zipfile.ZIP_STORED)
        return name

    def token_array(self, name: str, ids: np.ndarray) -> str:
        self.use(ids)
        return self.array(name, np.asarray(ids, dtype="<i4"))

    def image(self, image: Any) -> str:
        name = self.images.get(id(image))
        if name is None:
            out = io.BytesIO()
            image.save(out, format="PNG")
            data = out.getvalue()
            name = f"images/{hashlib.sha256(data).hexdigest()[:20]}.png"
            if name not in self.zip.namelist():
                self.zip.writestr(name, data, compress_type=zipfile.ZIP_STORED)  # PNG is compressed already
            self.images[id(image)] = name
        return name

    def prompt(self, prompt: Prompt) -> dict[str, Any]:
        return {"user": prompt.user, "system": prompt.system, "think": prompt.think,
                "images": [self.image(i) for i in prompt.images],
                "history": [{"user": t.user, "answer": t.answer, "images": [self.image(i) for i in t.images]}
                            for t in prompt.history]}

    def document(self, where: str, doc: Document) -> dict[str, Any]:
        return {"ids": self.token_array(f"{where}/ids.npy", doc.ids), "locks": sorted(doc.locks),
                "entropy": self.array(f"{where}/entropy.npy", doc.entropy.astype("<f4"))}

    def turn(self, node: TurnNode) -> dict[str, Any]:
        return {"id": node.id, "parent": node.parent, "user": node.user, "system": node.system, "think": node.think,
                "images": [self.image(i) for i in node.images], "active_child": node.active_child,
                "source": node.source,
                "document": self.document(f"turns/{node.id}", node.document) if node.document is not None else None}

    def result(self, where: str, result: GenerationResult) -> dict[str, Any]:
        return {"prompt_ids": self.token_array(f"{where}/prompt_ids.npy", result.prompt_ids),
                "token_ids": self.token_array(f"{where}/token_ids.npy", result.token_ids),
                "text": result.text, "thought": result.thought, "answer": result.answer,
                "canvas_steps": list(result.canvas_steps), "adaptive_stops": list(result.adaptive_stops),
                "seconds": result.seconds, "tokens_per_forward": result.tokens_per_forward,
                "tokens_per_second": result.tokens_per_second,
                "parallel_tokens_per_second": result.parallel_tokens_per_second, "cancelled": result.cancelled,
                "span": list(result.span) if result.span else None}

    def run(self, run: Run) -> dict[str, Any]:
        where = f"runs/{run.id}"
        canvases = []
        for canvas in run.canvas_indices:
            record = run.record.canvases[canvas]
            entry: dict[str, Any] = {"index": canvas, "steps": len(record.steps), "arrays": {}, "committed": None}
            if record.steps:
                for name, array in stack_steps(record.steps).items():
                    if name in ("argmax", "top_ids"):
                        self.use(array)
                    # Candidate probabilities are stored as they are: deflate took almost half of a save to make
                    # them 16% smaller (20 four-canvas runs at canvas 256: 1.6 s, 31.0 MiB; stored: 0.8 s, 34.1 MiB).
                    entry["arrays"][name] = self.array(f"{where}/canvas-{canvas}/{name}.npy", array,
                                                       compress=name != "top_probs")
            if record.committed is not None:
                c = record.committed
                entry["committed"] = {"token_ids": self.token_array(f"{where}/canvas-{canvas}/committed.npy",
                                                                    c.token_ids),
                                      "steps": c.steps, "adaptive_stop": c.adaptive_stop}
            canvases.append(entry)
        optional = {}
        for name in ("base_ids", "proposal_ids"):
            value = getattr(run, name)
            if value is not None:
                optional[name] = self.token_array(f"{where}/{name}.npy", value)
        if run.proposal_entropy is not None:
            optional["proposal_entropy"] = self.array(f"{where}/proposal_entropy.npy",
                                                      np.asarray(run.proposal_entropy, dtype="<f4"))
        return {"id": run.id, "kind": run.kind.value, "turn": run.turn, "prompt": self.prompt(run.prompt),
                "settings": run.settings.to_dict(), "canvas_length": run.canvas_length,
                "span": list(run.span) if run.span else None, "locks": sorted(run.locks),
                "instruction": run.instruction,
                "rewrite_chars": list(run.rewrite_chars) if run.rewrite_chars else None,
                "fate": run.fate.value, "accepted_hunks": list(run.accepted_hunks), "error": run.error,
                "started": run.started, "canvases": canvases,
                "result": self.result(f"{where}/result", run.result) if run.result is not None else None,
                **optional}


def session_bytes(ws: Workspace, saved_by: str = "Diffusion Desk") -> bytes:
    """The whole workspace as the bytes of a session file."""
    tokenizer = ws.tokenizer
    # A recorded tokenizer (a session opened without its model) brings its table along: nothing to collect.
    collect = tokenizer is not None and not isinstance(tokenizer, RecordedTokenizer)
    writer = _Writer(len(tokenizer) if collect else 0)
    conversation = ws.conversation
    draft = ws.draft
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "saved_by": saved_by, "name": ws.name,
        "model": None,
        "settings": ws.settings.to_dict(),
        "draft": {"user": draft.user, "system": draft.system, "think": draft.think,
                  "images": [writer.image(i) for i in draft.images], "image_names": list(draft.image_names),
                  "image_budget": draft.image_budget, "follow_up": draft.follow_up},
        "conversation": {"current": conversation.current, "root_choice": conversation.root_choice,
                         "turns": [writer.turn(node) for node in conversation]},
        "runs": [writer.run(run) for run in sorted(ws.runs.values(), key=lambda r: r.id)],
        "review": ws.review,
        "position": {"run": ws.position.run, "canvas": ws.position.canvas, "step": ws.position.step},
    }
    if ws.model is not None:
        manifest["model"] = {"source": ws.model.source, "name": ws.model.name, "vocab_size": ws.model.vocab_size,
                             "canvas_length": ws.model.canvas_length, "fingerprint": ws.model.fingerprint}
    if isinstance(tokenizer, RecordedTokenizer):
        manifest["tokens"] = tokenizer.table.to_dict()
    elif collect:
        manifest["tokens"] = record_tokens(tokenizer, np.flatnonzero(writer.used).tolist()).to_dict()
    writer.zip.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, separators=(",", ":")))
    writer.zip.close()
    return writer.buffer.getvalue()


def save_workspace(path: str | os.PathLike, ws: Workspace, saved_by: str = "Diffusion Desk") -> None:
    """Write the session atomically; raises SessionError (the old file intact) when it cannot."""
    from models.inputs.safe_files import UserFileError, write_atomic

    try:
        write_atomic(path, session_bytes(ws, saved_by))
    except UserFileError as error:
        raise SessionError(str(error)) from error

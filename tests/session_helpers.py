"""Session files for tests: a small workspace of a real tiny model, and a way to edit a saved file's manifest."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.engine.generator import Generator
from models.work.vocabulary import model_ref
from models.work.workspace import Draft, Workspace


def workspace_with_run(loaded: Any, user: str = "Write", seed: int = 1, steps: int = 2, images=()) -> Workspace:
    """A workspace of one generated turn, every step recorded."""
    settings = loaded.defaults.with_values(seed=seed, max_denoising_steps=steps)
    ws = Workspace(model_ref(loaded), loaded.tokenizer, settings)
    ws.set_draft(Draft(user, images=tuple(images), image_names=tuple(f"image {i}" for i in range(len(images)))))
    run = ws.start_generation(settings)
    ws.add_events(run.id, Generator(loaded).generate(run.prompt, settings))
    ws.finish_run(run.id)
    return ws


def manifest(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("session.json"))


def edit_manifest(path: Path, change: Callable[[dict], Any]) -> None:
    """Rewrite the session.json inside a saved session (the arrays and images stay as they are)."""
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    data = json.loads(entries["session.json"])
    change(data)
    entries["session.json"] = json.dumps(data).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    path.write_bytes(out.getvalue())

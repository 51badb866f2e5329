"""Session files: a generation saved as JSON (never pickle), written atomically so a failure leaves no half file."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from models.generator import Generation
from models.images import ImageError, load_image_bytes
from models.prompts import Prompt, Turn
from models.safe_files import UserFileError, write_atomic
from models.settings import SamplerSettings, SettingsError

FORMAT = "diffusion-desk-session"
VERSION = 1


class SessionError(ValueError):
    """A session file cannot be read or written; the message says why."""


def _image_to_text(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _images(data: list[str], where: str) -> tuple[Any, ...]:
    try:
        return tuple(load_image_bytes(base64.b64decode(text, validate=True), where) for text in data)
    except (ValueError, ImageError) as error:
        raise SessionError(f"{where}: an embedded image is damaged ({error})") from error


def session_to_dict(generation: Generation, model: str) -> dict[str, Any]:
    prompt = generation.prompt
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": model,
        "prompt": {
            "system": prompt.system,
            "user": prompt.user,
            "think": prompt.think,
            "images": [_image_to_text(image) for image in prompt.images],
            "history": [{"user": t.user, "answer": t.answer, "images": [_image_to_text(i) for i in t.images]}
                        for t in prompt.history],
        },
        "settings": generation.settings.to_dict(),
        "token_ids": [int(i) for i in generation.token_ids],
        "locks": sorted(int(i) for i in generation.locks),
    }


def save_session(path: str | os.PathLike, generation: Generation, model: str) -> None:
    """Written atomically (models.safe_files.write_atomic): the old file survives any failure."""
    text = json.dumps(session_to_dict(generation, model), indent=1)
    try:
        write_atomic(path, text.encode("utf-8"))
    except UserFileError as error:
        raise SessionError(str(error)) from error


def load_session(path: str | os.PathLike) -> tuple[Generation, str]:
    """The generation and the model it was made with."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise SessionError(f"no session file at {source}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SessionError(f"{source} is not a Diffusion Desk session (not readable JSON)") from error
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError(f"{source} is not a Diffusion Desk session")
    try:
        p = data["prompt"]
        history = tuple(Turn(str(t["user"]), str(t["answer"]), _images(t.get("images", []), str(source)))
                        for t in p.get("history", []))
        prompt = Prompt(user=str(p["user"]), system=str(p.get("system", "")), think=bool(p.get("think", False)),
                        images=_images(p.get("images", []), str(source)), history=history)
        settings = SamplerSettings.from_dict(data["settings"])
        ids = np.array([int(i) for i in data["token_ids"]], dtype=np.int64)
        locks = frozenset(int(i) for i in data.get("locks", []) if 0 <= int(i) < len(ids))
        model = str(data["model"])
    except (KeyError, TypeError, ValueError, SettingsError) as error:
        raise SessionError(f"{source} is damaged or from another version ({error})") from error
    return Generation(prompt=prompt, token_ids=ids, settings=settings, locks=locks), model

"""The demo model's example prompts (resources/demo_prompts.json), for the Generate menu."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from resources import DEMO_IMAGES, DEMO_PROMPTS


@dataclass(frozen=True)
class Example:
    title: str
    prompt: str
    system: str = ""
    think: bool = False
    image: Path | None = None


def load_examples(path: Path = DEMO_PROMPTS) -> list[Example]:
    """The examples that can be shown; a missing or damaged file gives none rather than an error at start-up."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    examples = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not entry.get("title") or not entry.get("prompt"):
            continue
        image = DEMO_IMAGES / str(entry["image"]) if entry.get("image") else None
        if image is not None and not image.is_file():
            continue
        examples.append(Example(str(entry["title"]), str(entry["prompt"]), str(entry.get("system", "")),
                                bool(entry.get("think", False)), image))
    return examples

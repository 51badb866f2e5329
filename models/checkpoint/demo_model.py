"""What the shipped demo model knows, in the words it was trained on: the window tells a user when a prompt is outside
it, instead of showing a confident wrong answer. The training data (models.training) draws its prompts from here.
"""

from __future__ import annotations

import re

from models.work.prompts import Prompt
from models.work.rewriting import REWRITE_SYSTEM

FREE_LATIN_PROMPT = "Write a 4x4 Latin square."
SHAPE_QUESTIONS: dict[str, str] = {
    "colour": "What colour is the shape?",
    "shape": "What shape is it?",
    "both": "Describe the picture.",
}
#: The instructions the demo model is trained on, in the exact words it knows; the app offers them as suggestions.
#: "Replace 3 with 7" stands for any two digits ("Replace {old} with {new}").
REWRITE_INSTRUCTIONS: tuple[str, ...] = (
    "Reverse",
    "Sort ascending",
    "Sort descending",
    "Replace 3 with 7",
    "Double each number",
)
DEMO_TASKS = ("sorting 3-7 digits, the largest or smallest of 3-7 digits, 4×4 Latin squares (from scratch or "
              "completing one), the colour and shape of a drawn figure, and rewriting its own answers (Ctrl+K: "
              "reverse, sort ascending or descending, replace a digit, double each number)")

_LIST = r"\d( \d){2,6}"
_TEXT_TASKS = (
    re.compile(rf"(Largest|Smallest) of {_LIST}\?"),
    re.compile(rf"Sort {_LIST}"),
    re.compile(r"Complete the Latin square:\n[1-4_]{4}\n[1-4_]{4}\n[1-4_]{4}\n[1-4_]{4}"),
    re.compile(re.escape(FREE_LATIN_PROMPT)),
)
_REPLACE = re.compile(r"Replace \d with \d")


def outside_demo(prompt: Prompt) -> str | None:
    """Why the demo model cannot answer `prompt` (one sentence), or None when it is one of its tasks."""
    if prompt.history:
        return "the demo model answers one prompt at a time and does not read earlier turns"
    user = prompt.user.strip()
    if prompt.system == REWRITE_SYSTEM:
        instruction = user.split("\n", 1)[0].strip()
        if instruction in REWRITE_INSTRUCTIONS or _REPLACE.fullmatch(instruction):
            return None
        return f"the demo model knows only these instructions, word for word: {', '.join(REWRITE_INSTRUCTIONS)}"
    if user in SHAPE_QUESTIONS.values():
        return None if len(prompt.images) == 1 else "that question is about one picture: add an image first"
    if prompt.images:
        return f"about a picture, the demo model answers only: {' '.join(SHAPE_QUESTIONS.values())}"
    if prompt.system.strip() or prompt.think:
        return "the demo model was trained without a system prompt or thinking mode"
    if any(task.fullmatch(user) for task in _TEXT_TASKS):
        return None
    return "this is not one of its tasks"

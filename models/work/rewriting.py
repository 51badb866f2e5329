"""Rewrite by instruction: the chat turn Ctrl+K sends for a selection, shared by the editor and the demo training."""

from __future__ import annotations

from models.work.prompts import Prompt

REWRITE_SYSTEM = "You rewrite passages of text as asked. Reply with the rewritten passage only."
CONTEXT_CHARS = 600  # of surrounding text sent with a rewrite instruction, on each side


def rewrite_prompt(instruction: str, text: str, start: int, end: int) -> Prompt:
    """The prompt asking to rewrite text[start:end] as `instruction` says, with the text around it for context."""
    before = text[max(0, start - CONTEXT_CHARS):start]
    after = text[end:end + CONTEXT_CHARS]
    return Prompt(system=REWRITE_SYSTEM, user=(
        f"{instruction.strip()}\n\nPassage:\n{text[start:end]}\n\nIt sits in this text (… marks cuts):\n"
        f"…{before}[PASSAGE]{after}…"))

"""Undo and redo of document changes, as plain data: each step is a turn's document before and after."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from models.work.document import Document


@dataclass
class DocumentStep:
    turn: int
    before: Document
    after: Document
    label: str  # "Typing", "Lock tokens", "Accept re-denoise", ...
    typing: bool = False  # consecutive typing in one turn merges into one step


class UndoStack:
    def __init__(self) -> None:
        self._steps: list[DocumentStep] = []
        self._index = 0  # steps[:index] are done
        self._merge_open = False

    def push(self, step: DocumentStep) -> None:
        """Record a change that was just made; redo history after the current point is dropped."""
        del self._steps[self._index:]
        previous = self._steps[-1] if self._steps else None
        if (step.typing and self._merge_open and previous is not None and previous.typing
                and previous.turn == step.turn):
            previous.after = step.after
            return
        self._steps.append(step)
        self._index += 1
        self._merge_open = step.typing

    def break_merge(self) -> None:
        """The next typing starts a step of its own (after a lock, a run, a selection elsewhere...)."""
        self._merge_open = False

    def undo(self) -> DocumentStep | None:
        """The step to revert (its `before` is to be shown), or None."""
        if not self._index:
            return None
        self._index -= 1
        self._merge_open = False
        return self._steps[self._index]

    def redo(self) -> DocumentStep | None:
        if self._index >= len(self._steps):
            return None
        self._index += 1
        self._merge_open = False
        return self._steps[self._index - 1]

    def undo_label(self) -> str:
        return self._steps[self._index - 1].label if self._index else ""

    def redo_label(self) -> str:
        return self._steps[self._index].label if self._index < len(self._steps) else ""

    def retokenize(self, tokenizer: Any) -> None:
        """The documents in the history, read with another tokenizer of the same vocabulary."""
        for step in self._steps:
            step.before = dataclasses.replace(step.before, tokenizer=tokenizer)
            step.after = dataclasses.replace(step.after, tokenizer=tokenizer)

    def clear(self) -> None:
        self.__init__()

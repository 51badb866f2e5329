"""What a workspace change touched, as flags: a misspelt kind is an AttributeError, not a view that never redraws."""

from __future__ import annotations

import enum


class Change(enum.Flag):
    """The kinds of change a workspace announces; one notice carries the union of what one edit touched."""

    MODEL = enum.auto()  # another model (or its tokenizer) is loaded
    CONVERSATION = enum.auto()  # turns added, removed or switched
    DOCUMENT = enum.auto()  # the current turn's document (text, locks)
    RUNS = enum.auto()  # a run was asked, finished, kept or discarded
    STEPS = enum.auto()  # a streaming run recorded more steps
    POSITION = enum.auto()  # what is on screen (run, canvas, step)
    REVIEW = enum.auto()  # the review of an edit run
    DRAFT = enum.auto()  # the prompt boxes
    SETTINGS = enum.auto()  # the sampler settings
    SELECTION = enum.auto()  # the token span selected in the current text
    SAVED = enum.auto()  # the session was saved or marked modified

    @classmethod
    def every(cls) -> Change:
        """All kinds at once: a whole new workspace."""
        return ~cls(0)

"""A canvas's tokens as running text: each position's share of what the tokenizer decodes, end tokens included.

The document's `TokenText` stops at the first end token (the text a user reads); a canvas view must place every
position, drafts after an end token too. So the canvas is cut at its end tokens (pad, EOS, end of turn), each run
between them is decoded by `TokenText` (byte-fallback tokens joined into characters: the token completing a
character carries it, the ones before it get ''), and each end token stands for itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.work.document import TokenText, end_ids_of


@dataclass(frozen=True)
class CanvasText:
    """Per position: its piece of the decoded text, and whether it is an end token (drawn as a marker)."""

    pieces: tuple[str, ...]
    ends: tuple[bool, ...]

    def groups(self) -> list[tuple[int, int]]:
        """Half-open position ranges drawn as one unit: a character's leading byte tokens with the token that
        completes it; every other position alone."""
        out: list[tuple[int, int]] = []
        start = 0
        for i, piece in enumerate(self.pieces):
            if piece or self.ends[i] or i == len(self.pieces) - 1:
                out.append((start, i + 1))
                start = i + 1
            elif i + 1 < len(self.pieces) and self.ends[i + 1]:
                out.append((start, i + 1))  # bytes that complete no character before an end token
                start = i + 1
        return out


def canvas_text(tokenizer: Any, ids: Sequence[int] | np.ndarray) -> CanvasText:
    """The pieces of every position of `ids` as `tokenizer` decodes them."""
    ids = [int(i) for i in ids]
    ends = end_ids_of(tokenizer)
    pieces: list[str] = []
    flags: list[bool] = []
    run: list[int] = []

    def flush() -> None:
        if run:
            pieces.extend(TokenText(tokenizer, run).pieces)
            flags.extend([False] * len(run))
            run.clear()

    for token_id in ids:
        if token_id in ends:
            flush()
            pieces.append(tokenizer.convert_ids_to_tokens(token_id) or "")
            flags.append(True)
        else:
            run.append(token_id)
    flush()
    return CanvasText(tuple(pieces), tuple(flags))


def raw_canvas_text(token_text: Callable[[int], str], ids: Sequence[int] | np.ndarray) -> CanvasText:
    """Without a tokenizer: each token's own text, SentencePiece's word-start mark as a space; no end tokens known."""
    pieces = tuple(token_text(int(i)).replace("\u2581", " ") for i in ids)
    return CanvasText(pieces, (False,) * len(pieces))

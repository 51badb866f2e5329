"""The text being edited: generated ids with locks, each token's place in the text, typing, and diff review."""

from __future__ import annotations

import codecs
import dataclasses
import difflib
import re
import weakref
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np

from models.inputs.validation import special_token_escaper
from models.work.bounded_cache import BoundedCache
from models.work.events import StepSnapshot

END_OF_TURN = "<turn|>"
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
VOCAB_CACHE = 65536  # decoded tokens kept per tokenizer: a quarter of a real vocabulary, a few MB
_WORD = re.compile(r"\s*\S+|\s+")  # a word and the spaces before it (trailing spaces: a word of their own)


def lay_into_canvases(text_ids: list[int], canvas_length: int, end_id: int, pad_id: int) -> np.ndarray:
    """Ids of any text laid out as a generation: the text, an end-of-turn, then pad to whole canvases."""
    ids = list(text_ids) + [end_id]
    total = -(-len(ids) // canvas_length) * canvas_length
    return np.array(ids + [pad_id] * (total - len(ids)), dtype=np.int64)


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Ids of text a user gave (typed, opened): a special token's string in it stays those characters, as in a
    prompt (models.inputs.validation.escape_special_tokens), so "<turn|>" typed in the text does not end the answer."""
    return tokenizer(special_token_escaper(tokenizer)(text), add_special_tokens=False)["input_ids"] if text else []


def end_ids_of(tokenizer: Any) -> frozenset[int]:
    """Ids that end the displayed text: pad, EOS and end-of-turn."""
    ids = {tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(END_OF_TURN)}
    return frozenset(i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id)


def end_of_turn_id(tokenizer: Any) -> int:
    """The id a laid-out text ends with: end-of-turn where the vocabulary has it, else EOS."""
    turn = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    return turn if isinstance(turn, int) and turn != tokenizer.unk_token_id else tokenizer.eos_token_id


class _Vocab:
    """Per-tokenizer cache of each token's (byte, text): a byte-fallback token's byte (its text ''), or None and any
    other token's decoded text (context-free). Bounded: a real vocabulary has 262,144 tokens. Shared by the GUI
    thread and the text view's render worker (the cache has a lock)."""

    def __init__(self) -> None:
        self.entries: BoundedCache[int, tuple[int | None, str]] = BoundedCache(VOCAB_CACHE)

    def lookup(self, tokenizer: Any, ids: Iterable[int]) -> dict[int, tuple[int | None, str]]:
        """Each of `ids`' (byte, text), decoding only the ids not cached (a cache makes live previews cheap)."""
        found: dict[int, tuple[int | None, str]] = {}
        missing = []
        for token_id in set(ids):
            entry = self.entries.get(token_id)
            if entry is None:
                missing.append(token_id)
            else:
                found[token_id] = entry
        missing.sort()
        tokens = tokenizer.convert_ids_to_tokens(missing) if missing else []
        for token_id, token in zip(missing, tokens, strict=True):
            match = _BYTE_TOKEN.fullmatch(token or "")
            if match:
                entry = (int(match.group(1), 16), "")
            else:
                entry = (None, tokenizer.decode([token_id], skip_special_tokens=False,
                                                clean_up_tokenization_spaces=False))  # fmt: skip
            found[token_id] = self.entries.put(token_id, entry)
        return found


_VOCABS: weakref.WeakKeyDictionary[Any, _Vocab] = weakref.WeakKeyDictionary()


def _vocab(tokenizer: Any) -> _Vocab:
    vocab = _VOCABS.get(tokenizer)
    if vocab is None:
        vocab = _VOCABS[tokenizer] = _Vocab()
    return vocab


def _byte_run_pieces(tokenizer: Any, run_ids: list[int], run_bytes: list[int]) -> list[str]:
    """Each byte token's share of the text: a character goes to the token holding its last byte, the others ''."""
    whole = tokenizer.decode(run_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        pieces = [decoder.decode(bytes([b])) for b in run_bytes] + [decoder.decode(b"", final=True)]
    except UnicodeDecodeError:
        pieces = None
    if pieces is not None and "".join(pieces) == whole:
        return pieces[:-1]
    # Invalid UTF-8 (a model can emit stray bytes): the tokenizer writes one U+FFFD per byte.
    if len(whole) == len(run_ids):
        return list(whole)
    return [""] * (len(run_ids) - 1) + [whole]


class TokenText:
    """Where each generated token sits in the displayed text: the text up to the first end id.

    ''.join(pieces) == text. A UTF-8 character spread over byte-fallback tokens is carried by the token holding
    its last byte; the tokens before it have an empty piece, sit at that character's offset and belong with it.
    """

    def __init__(self, tokenizer: Any, ids: Sequence[int] | np.ndarray) -> None:
        ends = end_ids_of(tokenizer)
        visible = [int(i) for i in ids]
        for index, token_id in enumerate(visible):
            if token_id in ends:
                visible = visible[:index]
                break
        known = _vocab(tokenizer).lookup(tokenizer, visible)
        pieces: list[str] = []
        run: list[int] = []
        for token_id in [*visible, None]:
            if token_id is not None and known[token_id][0] is not None:
                run.append(token_id)
                continue
            if run:
                pieces += _byte_run_pieces(tokenizer, run, [known[i][0] for i in run])
                run = []
            if token_id is not None:
                pieces.append(known[token_id][1])
        self.pieces: tuple[str, ...] = tuple(pieces)
        self.text = "".join(pieces)
        self.visible_count = len(pieces)
        offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in pieces], out=offsets[1:])
        offsets.setflags(write=False)
        self.offsets = offsets  # (visible_count + 1,): token i spans offsets[i]:offsets[i + 1]

    def piece(self, i: int) -> str:
        return self.pieces[i]

    def span_of(self, i: int) -> tuple[int, int]:
        if not 0 <= i < self.visible_count:
            raise IndexError(f"token {i} is not visible (0 to {self.visible_count - 1})")
        return int(self.offsets[i]), int(self.offsets[i + 1])

    def token_at(self, char_offset: int) -> int:
        """The token carrying this character; len(text) gives visible_count."""
        if not 0 <= char_offset <= len(self.text):
            raise IndexError(f"character {char_offset} is outside the text (0 to {len(self.text)})")
        if char_offset == len(self.text):
            return self.visible_count
        return int(np.searchsorted(self.offsets, char_offset, side="right")) - 1

    def tokens_for_chars(self, a: int, b: int) -> tuple[int, int]:
        """Half-open token span covering characters [a, b); an empty range gives the empty span at the token
        boundary at or before a."""
        if not 0 <= a <= b <= len(self.text):
            raise ValueError(f"character range {a}:{b} is outside the text (0:{len(self.text)})")
        if a == b:
            if a < len(self.text):
                at = self.tokens_for_chars(a, a + 1)[0]
            else:  # before any trailing bytes that complete no character
                at = int(np.searchsorted(self.offsets[:-1], a, side="left"))
            return at, at
        start = self.token_at(a)
        while start > 0 and self.offsets[start - 1] == self.offsets[start]:  # the character's leading bytes
            start -= 1
        return start, self.token_at(b - 1) + 1

    def units(self) -> list[int]:
        """Start index of each character group: zero-width tokens joined with the token that completes them."""
        widths = np.diff(self.offsets)
        starts = np.flatnonzero(np.concatenate([[True], widths[:-1] > 0])) if len(widths) else np.zeros(0, int)
        return [int(s) for s in starts]

    def words(self) -> list[int]:
        """Start index of each word: a run of non-space characters with the spaces before it, whole tokens."""
        word_of_char = np.zeros(len(self.text) + 1, dtype=np.int64)
        for number, match in enumerate(_WORD.finditer(self.text)):
            word_of_char[match.start():match.end()] = number
        starts, last = [], -1
        for unit in self.units():
            word = int(word_of_char[self.offsets[unit]])
            if word != last:
                starts.append(unit)
                last = word
        return starts


@dataclass(frozen=True, eq=False)
class Document:
    """Generated ids (whole canvases, end-padded) and the token indices the user locked. Edits return a new one.

    `entropy` is each token's entropy when the model committed it (NaN where unknown: typed or opened text), so the
    document itself can be shown coloured by how sure the model was.
    """

    ids: np.ndarray
    canvas_length: int
    tokenizer: Any = dataclasses.field(repr=False)
    locks: frozenset[int] = frozenset()
    entropy: np.ndarray | None = None

    def __post_init__(self) -> None:
        ids = np.array(self.ids, dtype=np.int64)
        ids.setflags(write=False)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "locks", frozenset(int(i) for i in self.locks if 0 <= int(i) < len(ids)))
        entropy = np.full(len(ids), np.nan, dtype=np.float32)
        if self.entropy is not None:
            given = np.asarray(self.entropy, dtype=np.float32)[: len(ids)]
            entropy[: len(given)] = given
        entropy.setflags(write=False)
        object.__setattr__(self, "entropy", entropy)

    def same_as(self, other: Document | None) -> bool:
        """Same ids, locks and entropies (documents compare by identity otherwise)."""
        return (other is not None and np.array_equal(self.ids, other.ids) and self.locks == other.locks
                and np.array_equal(self.entropy, other.entropy, equal_nan=True))

    @classmethod
    def from_text(cls, text: str, canvas_length: int, tokenizer: Any) -> Document:
        """Any text laid out as a generation (end-of-turn, then padding to whole canvases), for the model to edit."""
        ids = encode_text(tokenizer, text)
        laid = lay_into_canvases(ids, canvas_length, end_of_turn_id(tokenizer), tokenizer.pad_token_id)
        return cls(laid, canvas_length, tokenizer)

    @cached_property
    def token_text(self) -> TokenText:
        return TokenText(self.tokenizer, self.ids)

    @property
    def text(self) -> str:
        return self.token_text.text

    @property
    def visible_count(self) -> int:
        return self.token_text.visible_count

    def with_ids(self, ids: Sequence[int] | np.ndarray, entropy: np.ndarray | None = None) -> Document:
        """Other ids at the same indices (a rewrite's result); locks stay where they are."""
        return dataclasses.replace(self, ids=ids, entropy=entropy)

    def with_canvas(self, canvas_index: int, canvas_ids: np.ndarray, canvas_entropy: np.ndarray | None = None
                    ) -> Document:
        """This document with one canvas replaced, e.g. by a StepSnapshot's argmax for a live preview."""
        ids, entropy = self.ids.copy(), self.entropy.copy()
        start = canvas_index * self.canvas_length
        ids[start : start + self.canvas_length] = canvas_ids
        entropy[start : start + self.canvas_length] = np.nan if canvas_entropy is None else canvas_entropy
        return dataclasses.replace(self, ids=ids, entropy=entropy)

    def with_token(self, index: int, token_id: int) -> Document:
        """Another token at one position, locked (a candidate the user picked); its entropy is no longer known."""
        ids, entropy = self.ids.copy(), self.entropy.copy()
        ids[index], entropy[index] = token_id, np.nan
        return dataclasses.replace(self, ids=ids, entropy=entropy, locks=self.locks | {index})

    def with_locks(self, locks: Collection[int]) -> Document:
        return dataclasses.replace(self, locks=frozenset(locks))

    def with_locks_toggled(self, span: tuple[int, int]) -> Document:
        """Unlock [start, end) when all of it is locked, else lock all of it."""
        span_ids = set(range(max(span[0], 0), min(span[1], len(self.ids))))
        locks = self.locks - span_ids if span_ids <= self.locks else self.locks | span_ids
        return dataclasses.replace(self, locks=locks)

    def with_typed_text(self, char_start: int, char_end: int, new_text: str, lock: bool = True) -> Document:
        """Replace characters [char_start, char_end) with typed text; the retokenized tokens are locked.

        The tokens the edit touches, widened over adjacent locked tokens so that text typed a keystroke at a time
        is tokenized as a whole, are retokenized; later locks shift with their tokens. Laid out again as whole
        canvases (end-of-turn, then pad), so anything after the old end is dropped. With `lock=False` (text the
        model proposed, not the user) nothing is widened and the new tokens stay unlocked.
        """
        tt = self.token_text
        offsets, n = tt.offsets, tt.visible_count
        if char_start == char_end and not new_text:
            return self
        if char_start < char_end:
            start, end = tt.tokens_for_chars(char_start, char_end)
        elif char_start < len(tt.text) and offsets[tt.token_at(char_start)] < char_start:  # inside a token
            start, end = tt.tokens_for_chars(char_start, char_start + 1)
        else:
            start = end = tt.tokens_for_chars(char_start, char_start)[0]
        while start > 0 and ((lock and start - 1 in self.locks) or offsets[start - 1] == offsets[start]):
            start -= 1
        while end < n and ((lock and end in self.locks) or (end > start and offsets[end - 1] == offsets[end])):
            end += 1
        a, b = int(offsets[start]), int(offsets[end])
        region = tt.text[a:char_start] + new_text + tt.text[char_end:b]
        typed = encode_text(self.tokenizer, region)
        visible = [int(i) for i in self.ids[:n]]
        shift = len(typed) - (end - start)
        locks = (
            {i for i in self.locks if i < start}
            | (set(range(start, start + len(typed))) if lock else set())
            | {i + shift for i in self.locks if end <= i < n}
        )
        entropy = np.concatenate([self.entropy[:start], np.full(len(typed), np.nan, np.float32), self.entropy[end:n]])
        ids, entropy = _lay_out(self, visible[:start] + list(typed) + visible[end:], entropy)
        return dataclasses.replace(self, ids=ids, locks=locks, entropy=entropy)

    def with_written_entropy(self, before: Document, written_ids: Sequence[int],
                             written_entropy: np.ndarray) -> Document:  # fmt: skip
        """This document, made from `before` by putting in text the model wrote (a rewrite's answer, tokenized again
        in place, so of unknown entropy), with each new token's entropy as the model wrote it: the tokens of unknown
        entropy around the first change are matched, in order, with the next equal token among `written_ids`. A
        token the text splits otherwise stays unknown."""
        old, new = before.ids[: before.token_text.visible_count], self.ids[: self.token_text.visible_count]
        unknown = np.isnan(self.entropy[: len(new)])
        same = min(len(old), len(new))
        start = next((i for i in range(same) if old[i] != new[i]), same)
        while start > 0 and unknown[start - 1]:  # tokens put in again unchanged before the first change
            start -= 1
        while start < len(new) and not unknown[start]:
            start += 1
        written = [(int(t), float(e)) for t, e in zip(written_ids, written_entropy, strict=True) if not np.isnan(e)]
        entropy, next_written = self.entropy.copy(), 0
        for position in range(start, len(new)):
            if not unknown[position]:
                break  # the end of the text put in
            match = next((k for k in range(next_written, len(written)) if written[k][0] == new[position]), None)
            if match is not None:
                entropy[position], next_written = written[match][1], match + 1
        return dataclasses.replace(self, entropy=entropy)


@dataclass(frozen=True)
class Hunk:
    """One change between two texts, by token: old tokens [old_start, old_end) became new [new_start, new_end)."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int
    old_text: str
    new_text: str


def _opcodes(old: TokenText, old_ids: np.ndarray, new: TokenText, new_ids: np.ndarray) -> list[tuple]:
    """SequenceMatcher opcodes in token indices, matched by whole words: a replaced word is one hunk, never a
    "remove '41'" beside an "add '14'", and no hunk splits a character."""

    def groups(tt: TokenText, ids: np.ndarray) -> tuple[list[tuple[int, ...]], list[int]]:
        starts = tt.words() + [tt.visible_count]
        return [tuple(int(i) for i in ids[s:e]) for s, e in pairwise(starts)], starts

    old_groups, old_starts = groups(old, old_ids)
    new_groups, new_starts = groups(new, new_ids)
    matcher = difflib.SequenceMatcher(None, old_groups, new_groups, autojunk=False)
    return [
        (tag, old_starts[i1], old_starts[i2], new_starts[j1], new_starts[j2])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
    ]


def diff_hunks(old: Document, new_ids: Sequence[int] | np.ndarray) -> list[Hunk]:
    """The changes from old's visible text to new_ids' visible text, in order."""
    new = old.with_ids(new_ids)
    ot, nt = old.token_text, new.token_text
    return [
        Hunk(i1, i2, j1, j2, ot.text[ot.offsets[i1] : ot.offsets[i2]], nt.text[nt.offsets[j1] : nt.offsets[j2]])
        for tag, i1, i2, j1, j2 in _opcodes(ot, old.ids, nt, new.ids)
        if tag != "equal"
    ]


def apply_hunks(old: Document, new_ids: Sequence[int] | np.ndarray, accepted: Collection[int],
                new_entropy: np.ndarray | None = None) -> Document:
    """old with the accepted hunks (indices into diff_hunks' list) taken from new_ids; locks and entropies follow
    their tokens."""
    new = old.with_ids(new_ids, new_entropy)
    merged: list[int] = []
    entropy: list[np.ndarray] = []
    locks: set[int] = set()
    hunk = 0
    for tag, i1, i2, j1, j2 in _opcodes(old.token_text, old.ids, new.token_text, new.ids):
        take_new = tag != "equal" and hunk in accepted
        hunk += tag != "equal"
        if take_new:
            # A word that changed around a locked token keeps the lock where the token is still itself.
            locks |= {len(merged) + i - i1 for i in old.locks
                      if i1 <= i < i2 and i2 - i1 == j2 - j1 and new.ids[j1 + i - i1] == old.ids[i]}
            merged += [int(i) for i in new.ids[j1:j2]]
            entropy.append(new.entropy[j1:j2])
            continue
        locks |= {len(merged) + i - i1 for i in old.locks if i1 <= i < i2}
        merged += [int(i) for i in old.ids[i1:i2]]
        entropy.append(old.entropy[i1:i2])
    ids, laid = _lay_out(old, merged, np.concatenate(entropy) if entropy else np.zeros(0, np.float32))
    return dataclasses.replace(old, ids=ids, locks=locks, entropy=laid)


def _lay_out(old: Document, text_ids: list[int], text_entropy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edited text laid out as whole canvases again, with its entropies; the end-of-turn and padding keep the
    entropies they had in `old` (they move with the end of the text), rather than turning unknown at every edit."""
    ids = lay_into_canvases(text_ids, old.canvas_length, end_of_turn_id(old.tokenizer), old.tokenizer.pad_token_id)
    entropy = np.full(len(ids), np.nan, dtype=np.float32)
    entropy[: len(text_entropy)] = text_entropy
    tail = old.entropy[old.visible_count :]
    count = min(len(tail), len(ids) - len(text_ids))
    entropy[len(text_ids) : len(text_ids) + count] = tail[:count]
    return ids, entropy


def canvas_snapshot(doc: Document, canvas: int) -> StepSnapshot:
    """One canvas of the document drawn as a settled step: its ids, locks and the entropy each token had when it
    was committed (NaN: unknown). step_index -1 marks it as the document, not a recorded step."""
    length = doc.canvas_length
    window = slice(canvas * length, (canvas + 1) * length)
    ids, entropy = doc.ids[window], doc.entropy[window]
    locked = np.zeros(length, dtype=bool)
    locked[[i - canvas * length for i in doc.locks if window.start <= i < window.stop]] = True
    known = entropy[~np.isnan(entropy)]
    return StepSnapshot(canvas_index=canvas, step_index=-1, argmax=ids, accepted=np.ones(length, dtype=bool),
                        entropy=entropy, locked=locked, editable=np.ones(length, dtype=bool),
                        mean_entropy=float(known.mean()) if known.size else float("nan"), num_accepted=length,
                        temperature=float("nan"), elapsed=0.0)

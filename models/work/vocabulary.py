"""Which model a piece of work belongs to, and the tokens a session needs to be shown without that model.

A session records, for every id it uses, the token's raw text and its decoded text. `RecordedTokenizer` answers the
questions the document, the views and the reply splitter ask of a tokenizer from that table alone, so a session
replays and reads exactly as it was made while its model is not loaded (or is another one). It cannot tokenize:
editing needs the model.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_NAMED_TOKENS = ("<turn|>", "<|channel>", "<channel|>", "<|turn>")


class NeedsModel(RuntimeError):
    """The work needs the model's own tokenizer (typing, running); only its recorded tokens are at hand."""


@dataclass(frozen=True)
class ModelRef:
    """The model a workspace's ids belong to: ids mean nothing under another vocabulary."""

    source: str  # folder or hub id, as the user gave it
    name: str
    vocab_size: int
    canvas_length: int
    fingerprint: str  # a hash of the tokenizer's vocabulary

    def same_model(self, other: ModelRef | None) -> bool:
        return (other is not None and self.fingerprint == other.fingerprint and self.vocab_size == other.vocab_size
                and self.canvas_length == other.canvas_length)


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A short hash of the vocabulary (token text -> id): equal for the same tokenizer wherever it was loaded from."""
    digest = hashlib.sha256()
    for token, token_id in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1]):
        digest.update(f"{token_id}\t{token}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


_FINGERPRINTS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def model_ref(loaded: Any) -> ModelRef:
    """The ModelRef of a LoadedModel or a remote model (its fingerprint is computed once and kept on it)."""
    tokenizer = loaded.tokenizer
    fingerprint = _FINGERPRINTS.get(tokenizer)
    if fingerprint is None:
        fingerprint = _FINGERPRINTS[tokenizer] = tokenizer_fingerprint(tokenizer)
    return ModelRef(source=str(loaded.source), name=str(loaded.name), vocab_size=int(loaded.vocab_size),
                    canvas_length=int(loaded.canvas_length), fingerprint=fingerprint)


@dataclass(frozen=True)
class TokenTable:
    """For each id used: (raw token, decoded text, special?); and the ids that mark ends and channels."""

    entries: dict[int, tuple[str, str, bool]]
    pad_token_id: int | None
    eos_token_id: int | None
    unk_token_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pad": self.pad_token_id, "eos": self.eos_token_id, "unk": self.unk_token_id,
            "tokens": [[i, raw, text, special] for i, (raw, text, special) in sorted(self.entries.items())],
        }


def record_tokens(tokenizer: Any, ids: Iterable[int]) -> TokenTable:
    """The table of `ids` (plus the end and channel tokens) from a real tokenizer."""
    wanted = {int(i) for i in ids}
    for special in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id):
        if isinstance(special, int):
            wanted.add(special)
    unk = tokenizer.unk_token_id
    for token in _NAMED_TOKENS:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != unk:
            wanted.add(token_id)
    size = len(tokenizer)  # not in the loop: a fast tokenizer counts its vocabulary anew at every len()
    ordered = sorted(i for i in wanted if 0 <= i < size)
    raws = tokenizer.convert_ids_to_tokens(ordered)
    specials = set(tokenizer.all_special_ids)
    entries = {}
    for token_id, raw in zip(ordered, raws, strict=True):
        text = tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        entries[token_id] = (raw or "", text, token_id in specials)
    return TokenTable(entries, tokenizer.pad_token_id, tokenizer.eos_token_id, unk)


class RecordedTokenizer:
    """The read-only part of a tokenizer, from a TokenTable."""

    def __init__(self, table: TokenTable) -> None:
        self.table = table
        self.pad_token_id = table.pad_token_id
        self.eos_token_id = table.eos_token_id
        self.unk_token_id = table.unk_token_id
        self._ids = {raw: token_id for token_id, (raw, _text, _special) in table.entries.items()}

    def __len__(self) -> int:
        return max(self.table.entries, default=-1) + 1

    def convert_tokens_to_ids(self, token: str) -> int | None:
        return self._ids.get(token, self.unk_token_id)

    def convert_ids_to_tokens(self, ids: int | Sequence[int]) -> Any:
        if isinstance(ids, int):
            return self._raw(ids)
        return [self._raw(int(i)) for i in ids]

    def _raw(self, token_id: int) -> str:
        entry = self.table.entries.get(token_id)
        return entry[0] if entry else f"<id {token_id}>"

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False, **_ignored: Any) -> str:
        """As the tokenizer decodes: pieces joined, byte-fallback runs decoded as UTF-8 (one U+FFFD per bad byte)."""
        out: list[str] = []
        run = bytearray()
        ids = [int(i) for i in ids]
        if skip_special_tokens:  # removed before decoding, as the tokenizer does: bytes around one become one run
            ids = [i for i in ids if not (i in self.table.entries and self.table.entries[i][2])]
        for token_id in ids + [None]:
            entry = self.table.entries.get(token_id) if token_id is not None else None
            match = _BYTE_TOKEN.fullmatch(entry[0]) if entry else None
            if match:
                run.append(int(match.group(1), 16))
                continue
            if run:
                try:
                    out.append(run.decode("utf-8"))
                except UnicodeDecodeError:
                    out.append("\ufffd" * len(run))
                run = bytearray()
            if token_id is None:
                break
            if entry is None:
                out.append(f"<id {token_id}>")
            else:
                out.append(entry[1])
        return "".join(out)

    def __call__(self, *_args: Any, **_kwargs: Any) -> Any:
        raise NeedsModel("editing text needs the session's model: load it first (Model menu)")


def table_from_dict(data: Any) -> TokenTable:
    """A TokenTable from its JSON form; raises ValueError naming what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
        raise ValueError("the token table is missing")
    entries: dict[int, tuple[str, str, bool]] = {}
    for row in data["tokens"]:
        if (not isinstance(row, list) or len(row) != 4 or not _is_id(row[0]) or not isinstance(row[1], str)
                or not isinstance(row[2], str) or not isinstance(row[3], bool)):
            raise ValueError("a token table entry is not [id, token, text, special]")
        entries[row[0]] = (row[1], row[2], row[3])
    specials = [data.get(key) for key in ("pad", "eos", "unk")]
    if any(value is not None and not _is_id(value) for value in specials):
        raise ValueError("the token table's pad, eos or unk id is not a token id")
    return TokenTable(entries, *specials)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31

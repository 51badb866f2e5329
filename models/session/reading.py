"""Opening a session file: the whole file is read and checked before a workspace is built from it.

Version 2 files (zip, see docs/session-format.md) replay without their model: they carry the text of every token they
use. Version 1 files (plain JSON, one generation) still open, on a loaded model. Anything corrupt, truncated,
foreign, from a newer version, or whose ids do not fit its model is refused with one SessionError naming the file
and the reason; nothing is half-built.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
from typing import Any

import numpy as np

from models.inputs.images import ImageError, load_image_bytes
from models.inputs.json_fields import FieldError, Fields, JsonLimitError, NotJson, loads_bounded, shown
from models.session.format_checks import check_header, settings_from
from models.session.format_v1 import NeedsItsModel, workspace_from_v1
from models.session.step_arrays import StepDataError, unstack_steps
from models.session.writing import MANIFEST, SessionError
from models.work.conversation import Conversation, TurnNode
from models.work.document import Document
from models.work.events import CanvasCommitted, GenerationResult
from models.work.prompts import Prompt, Turn
from models.work.runs import Fate, Run, RunKind
from models.work.settings import SettingsError
from models.work.vocabulary import ModelRef, RecordedTokenizer, table_from_dict
from models.work.workspace import Draft, Position, Workspace

MAX_FILE_BYTES = 512 * 2**20
MAX_UNPACKED_BYTES = 2 * 2**30  # a zip bomb is refused before anything is inflated
# session.json (or a version-1 file) is parsed whole into Python objects, several times its size in memory; a real
# manifest is a few MiB even with a hundred runs. Checked against the zip's declared size, before it is inflated.
MAX_JSON_BYTES = 64 * 2**20
MAX_ENTRIES = 200_000
MAX_CANVAS = 1 << 16
_DAMAGED = (FieldError, StepDataError, SettingsError, ImageError, ValueError, TypeError, KeyError, IndexError,
            OverflowError, EOFError, OSError, zipfile.BadZipFile, zlib.error, RecursionError, NotImplementedError)


def open_session(path: str | os.PathLike, model: ModelRef | None = None, tokenizer: Any = None) -> Workspace:
    """The workspace saved in `path`. With the loaded model's ref and tokenizer, a session of that model uses them;
    a session of another model (or none loaded) replays with its recorded tokens."""
    from models.inputs.safe_files import UserFileError, read_user_file

    try:
        data = read_user_file(path, MAX_FILE_BYTES, "session file")
    except UserFileError as error:
        raise SessionError(str(error)) from error
    return session_from_bytes(data, str(path), model, tokenizer)


def session_from_bytes(data: bytes, where: str, model: ModelRef | None = None, tokenizer: Any = None) -> Workspace:
    try:
        if data[:4] == b"PK\x03\x04":
            return _Reader(data, model, tokenizer).workspace()
        if len(data) > MAX_JSON_BYTES:
            raise SessionError(f"not a session this program can open: a version-1 (JSON) session is at most "
                               f"{MAX_JSON_BYTES >> 20} MiB, this file is {len(data) / 2**20:.1f} MiB")
        return workspace_from_v1(_json(data, where), model, tokenizer)
    except NeedsItsModel:
        raise  # the caller offers to load that model, then opens the file again
    except SessionError as error:
        raise SessionError(f"{where}: {error}") from error
    except _DAMAGED as error:
        raise SessionError(f"{where} is damaged: {_brief(error)}") from error


def _brief(error: BaseException, limit: int = 300) -> str:
    """An error about a damaged file as one short line: the file chose what some messages quote."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json(data: bytes, where: str) -> Any:
    try:  # numbers beyond ±2^63 and deep nesting are refused before any field is read
        return loads_bounded(data)
    except NotJson as error:
        raise SessionError("not a Diffusion Desk session (neither a session archive nor JSON)") from error
    except JsonLimitError as error:
        raise SessionError(f"not a Diffusion Desk session: {error}") from error


class _Reader:
    def __init__(self, data: bytes, model: ModelRef | None, tokenizer: Any) -> None:
        self.zip = zipfile.ZipFile(io.BytesIO(data))
        infos = self.zip.infolist()
        if len(infos) > MAX_ENTRIES or sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
            raise SessionError("it unpacks to more than a session can hold (a damaged or hostile archive)")
        self.sizes = {info.filename: info.file_size for info in infos}
        if MANIFEST not in self.sizes:
            raise SessionError("not a Diffusion Desk session (no session.json inside)")
        if self.sizes[MANIFEST] > MAX_JSON_BYTES:
            raise SessionError(f"its session.json unpacks to {self.sizes[MANIFEST] / 2**20:.1f} MiB; a session's "
                               f"manifest is at most {MAX_JSON_BYTES >> 20} MiB (a damaged or hostile file)")
        self.top = Fields(_json(self.zip.read(MANIFEST), ""), "session")
        check_header(self.top)
        self.loaded_model, self.loaded_tokenizer = model, tokenizer
        self.images: dict[str, Any] = {}

    # ----- pieces -----------------------------------------------------------------------------------------------
    def array(self, name: Any, kinds: str, ndim: int) -> np.ndarray:
        if not isinstance(name, str) or name not in self.sizes or not name.endswith(".npy"):
            raise FieldError(f"array {shown(name)} is not in the file")
        data = self.zip.read(name)
        _check_npy_size(name, data)  # before numpy allocates what the header declares
        array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        if array.dtype.kind not in kinds or array.ndim != ndim:
            raise FieldError(f"array {name} has the wrong type or shape")
        return array

    def ids(self, name: Any, length: int | None = None) -> np.ndarray:
        ids = self.array(name, "iu", 1).astype(np.int64)
        if length is not None and len(ids) != length:
            raise FieldError(f"{name} holds {len(ids)} ids, expected {length}")
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.model.vocab_size):
            raise FieldError(f"{name} holds ids outside the model's vocabulary (0 to {self.model.vocab_size - 1})")
        return ids

    def image(self, name: Any) -> Any:
        if not isinstance(name, str) or not name.startswith("images/") or name not in self.sizes:
            raise FieldError(f"image {shown(name)} is not in the file")
        if name not in self.images:
            self.images[name] = load_image_bytes(self.zip.read(name), name)
        return self.images[name]

    def prompt(self, f: Fields) -> Prompt:
        history = tuple(Turn(h.text("user"), h.text("answer"), tuple(self.image(i) for i in h.items("images")))
                        for h in f.objects("history"))
        return Prompt(user=f.text("user"), system=f.text("system"), think=f.flag("think"),
                      images=tuple(self.image(i) for i in f.items("images")), history=history)

    def document(self, f: Fields) -> Document:
        ids = self.ids(f.data.get("ids"))
        length = self.model.canvas_length
        if not len(ids) or len(ids) % length:
            raise FieldError(f"{f.where}.ids holds {len(ids)} ids, not whole canvases of {length}")
        entropy = self.array(f.data.get("entropy"), "f", 1)
        if len(entropy) != len(ids) or np.isinf(entropy).any() or (entropy < 0).any():
            raise FieldError(f"{f.where}.entropy does not fit its ids")
        locks = f.integers("locks", 0, len(ids) - 1)
        return Document(ids, length, self.tokenizer, frozenset(locks), entropy)

    # ----- the whole ----------------------------------------------------------------------------------------------
    def workspace(self) -> Workspace:
        top = self.top
        m = top.obj("model")
        self.model = ModelRef(m.text("source"), m.text("name"), m.integer("vocab_size", 1),
                              m.integer("canvas_length", 1, MAX_CANVAS), m.text("fingerprint"))
        table = table_from_dict(top.data.get("tokens"))
        if any(i >= self.model.vocab_size for i in table.entries):
            raise FieldError("the token table names ids outside the model's vocabulary")
        same = self.model.same_model(self.loaded_model) and self.loaded_tokenizer is not None
        self.tokenizer = self.loaded_tokenizer if same else RecordedTokenizer(table)
        turns = self.turns(top.obj("conversation"))
        runs = {run.id: run for run in (self.run(f, turns) for f in top.objects("runs"))}
        if len(runs) != len(top.items("runs")):
            raise FieldError("two runs share an id")
        d = top.obj("draft")
        images = tuple(self.image(i) for i in d.items("images"))
        names = tuple(str(n) for n in d.items("image_names"))
        budget = d.integer("image_budget", 1, 100_000, optional=True)
        draft = Draft(d.text("user"), d.text("system"), d.flag("think"), images,
                      names if len(names) == len(images) else tuple(f"image {i + 1}" for i in range(len(images))),
                      budget, d.flag("follow_up"))
        review = top.integer("review", optional=True)
        if review is not None and (review not in runs or runs[review].fate is not Fate.PROPOSED):
            raise FieldError("session.review names no proposal")
        p = top.obj("position")
        run_shown = p.integer("run", optional=True)
        if run_shown is not None and run_shown not in runs:
            raise FieldError("session.position names no run")
        position = Position(run_shown, p.integer("canvas", 0, 1 << 20), p.integer("step", -1, 1 << 20))
        return Workspace.restored(self.model, self.tokenizer, settings_from(top.obj("settings")), turns, runs,
                                  draft, review, position, top.text("name", optional=True, limit=4096))

    def turns(self, c: Fields) -> Conversation:
        conversation = Conversation()
        for f in c.objects("turns"):
            node = TurnNode(f.integer("id"), f.integer("parent", optional=True), f.text("user"), f.text("system"),
                            f.flag("think"), tuple(self.image(i) for i in f.items("images")),
                            self.document(f.obj("document")) if f.data.get("document") is not None else None,
                            f.integer("active_child", optional=True), f.text("source", optional=True))
            if node.id in conversation.turns:
                raise FieldError(f"two turns share the id {node.id}")
            conversation.turns[node.id] = node
        for node in conversation:
            seen = {node.id}
            parent = node.parent
            while parent is not None:
                if parent not in conversation.turns or parent in seen:
                    raise FieldError(f"turn {node.id} has a missing or circular parent")
                seen.add(parent)
                parent = conversation.turns[parent].parent
            if node.active_child is not None and conversation.turns.get(node.active_child, node).parent != node.id:
                raise FieldError(f"turn {node.id}'s active branch is not one of its children")
        for key in ("current", "root_choice"):
            value = c.integer(key, optional=True)
            if value is not None and value not in conversation.turns:
                raise FieldError(f"conversation.{key} names no turn")
            setattr(conversation, key, value)
        return conversation

    def run(self, f: Fields, conversation: Conversation) -> Run:
        turn = f.integer("turn")
        if turn not in conversation.turns:
            raise FieldError(f"{f.where}.turn names no turn")
        length = f.integer("canvas_length", 1, MAX_CANVAS)
        if length != self.model.canvas_length:
            raise FieldError(f"{f.where} was made with canvas {length}, the session's model has "
                             f"{self.model.canvas_length}")
        base = self.ids(f.data["base_ids"]) if f.data.get("base_ids") is not None else None
        high = len(base) if base is not None else 1 << 30
        chars = f.span("rewrite_chars", 1 << 30)
        run = Run(f.integer("id", 1), RunKind(f.text("kind")), turn, self.prompt(f.obj("prompt")),
                  settings_from(f.obj("settings")), length, span=f.span("span", high),
                  locks=frozenset(f.integers("locks", 0, high - 1)), base_ids=base,
                  instruction=f.text("instruction"), rewrite_chars=chars, started=f.number("started"))
        run.fate = Fate(f.text("fate"))
        run.accepted_hunks = tuple(f.integers("accepted_hunks"))
        run.error = f.text("error")
        for c in f.objects("canvases"):
            index, count = c.integer("index", 0, 1 << 20), c.integer("steps", 0, 1 << 20)
            arrays = {name: self.array(ref, "biuf", 3 if name.startswith("top_") else 2)
                      for name, ref in c.obj("arrays").data.items()}
            for step in unstack_steps(index, arrays, length, self.model.vocab_size, count) if count else []:
                run.record.add(step)
            committed = c.obj("committed", optional=True)
            if committed is not None:
                run.record.add(CanvasCommitted(index, self.ids(committed.data.get("token_ids"), length),
                                               committed.integer("steps", 0, 1 << 20),
                                               committed.flag("adaptive_stop")))
        if f.data.get("proposal_ids") is not None:
            run.proposal_ids = self.ids(f.data["proposal_ids"])
            if f.data.get("proposal_entropy") is not None:
                run.proposal_entropy = self.array(f.data["proposal_entropy"], "f", 1)
        if f.data.get("result") is not None:
            run.record.add(self.result(f.obj("result")))
        if run.fate is Fate.PROPOSED and run.proposal_ids is None:
            raise FieldError(f"{f.where} is a proposal without its text")
        return run

    def result(self, r: Fields) -> GenerationResult:
        return GenerationResult(
            prompt_ids=self.ids(r.data.get("prompt_ids")), token_ids=self.ids(r.data.get("token_ids")),
            text=r.text("text"), thought=r.text("thought"), answer=r.text("answer"),
            canvas_steps=tuple(r.integers("canvas_steps", 0, 1 << 20)),
            adaptive_stops=tuple(_flags(r, "adaptive_stops")), seconds=r.number("seconds"),
            tokens_per_forward=r.number("tokens_per_forward"), tokens_per_second=r.number("tokens_per_second"),
            parallel_tokens_per_second=r.number("parallel_tokens_per_second"), cancelled=r.flag("cancelled"),
            span=r.span("span", 1 << 30))


def _check_npy_size(name: str, data: bytes) -> None:
    """FieldError unless the .npy header's shape and dtype account for exactly the bytes that follow it.

    numpy allocates the array its header declares before reading any data, so a header claiming 10^12 elements in
    an entry of a few bytes would ask for terabytes (a MemoryError in the window, a traceback in `export`).
    """
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise FieldError(f"array {name} is in .npy format {version[0]}.{version[1]}, which sessions do not use")
    declared, held = math.prod(shape) * dtype.itemsize, len(data) - stream.tell()
    if declared != held:
        size = f"{declared:,} bytes" if declared < 2**63 else "more bytes than any machine has"
        raise FieldError(f"array {name} declares {size} of {dtype} data but holds {held:,} bytes")


def _flags(fields: Fields, key: str) -> list[bool]:
    values = fields.items(key)
    if not all(isinstance(v, bool) for v in values):
        raise FieldError(f"{fields.where}.{key} must hold true or false values")
    return values

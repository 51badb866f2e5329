"""Version-1 session files (one generation as plain JSON, before runs were kept) opened as a workspace.

They carry no token table, so they open on their own model only: on another or no model they ask for it by name.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from models.inputs.images import load_image_bytes
from models.inputs.json_fields import FieldError, Fields
from models.session.format_checks import check_header, settings_from
from models.session.writing import SessionError
from models.work.document import Document, end_of_turn_id, lay_into_canvases
from models.work.vocabulary import ModelRef
from models.work.workspace import Draft, Workspace


class NeedsItsModel(SessionError):
    """A version-1 session can only be opened with the model it names loaded."""

    def __init__(self, source: str) -> None:
        super().__init__(f"it is a version-1 session made with {source or 'the demo model'}; load that model first, "
                         "then open it again")
        self.source = source


def _same_source(a: str, b: str) -> bool:
    demo = {"", "demo"}
    return a == b or (a in demo and b in demo)


def workspace_from_v1(data: Any, model: ModelRef | None, tokenizer: Any) -> Workspace:
    top = Fields(data, "session")
    check_header(top)
    source = top.text("model")
    if model is None or tokenizer is None or not _same_source(source, model.source):
        raise NeedsItsModel(source)
    p = top.obj("prompt")
    images = tuple(_image(text, f"session.prompt.images[{i}]") for i, text in enumerate(p.items("images")))
    settings = settings_from(top.obj("settings"))
    ids = np.array(top.integers("token_ids", 0, model.vocab_size - 1), dtype=np.int64)
    if not len(ids) or len(ids) % model.canvas_length:
        raise FieldError(f"session.token_ids holds {len(ids)} ids, not whole canvases of {model.canvas_length}")
    locks = frozenset(top.integers("locks", 0, len(ids) - 1, optional=True))
    ws = Workspace(model, tokenizer, settings)
    parent = None
    for i, h in enumerate(p.objects("history", optional=True)):
        node = ws.conversation.add(parent, h.text("user"), p.text("system", optional=True),
                                   p.flag("think", optional=True),
                                   tuple(_image(t, f"history[{i}].images") for t in h.items("images", optional=True)))
        answer = tokenizer(h.text("answer"), add_special_tokens=False)["input_ids"]
        node.document = Document(lay_into_canvases(answer, model.canvas_length, end_of_turn_id(tokenizer),
                                                   tokenizer.pad_token_id), model.canvas_length, tokenizer)
        parent = node.id
    node = ws.conversation.add(parent, p.text("user"), p.text("system", optional=True),
                               p.flag("think", optional=True), images)
    node.document = Document(ids, model.canvas_length, tokenizer, locks)
    ws.draft = Draft(node.user, node.system, node.think, images, tuple(f"image {i + 1}" for i in range(len(images))),
                     follow_up=parent is not None)
    ws.mark_saved("")
    return ws


def _image(text: Any, where: str) -> Any:
    if not isinstance(text, str):
        raise FieldError(f"{where} must be base64 text")
    return load_image_bytes(base64.b64decode(text, validate=True), where)

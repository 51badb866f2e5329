"""The command line's session files: `generate --save` writes a session of one run with every step; `rewrite
--session F` re-denoises a span of F's text on F's own model, and `--save OUT` adds that run (a proposal to review
in the window). No Qt is imported."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from models.session.files import NeedsItsModel, SessionError, open_session, save_workspace
from models.work.events import Event
from models.work.prompts import Prompt
from models.work.runs import Run, RunKind
from models.work.settings import SamplerSettings
from models.work.vocabulary import model_ref
from models.work.workspace import Draft, Workspace


class SessionModelError(ValueError):
    """The session cannot be worked on with the model at hand; the message says which model it needs."""


def recorded(run: Run, events: Iterable[Event]) -> Iterator[Event]:
    """The events, passed on as they come, each one also recorded into the run (for a saved session)."""
    for event in events:
        run.record.add(event)
        yield event


def generation_workspace(model: Any, prompt: Prompt, settings: SamplerSettings) -> tuple[Workspace, Run]:
    """A workspace holding the prompt as its first turn, and the run about to generate its answer."""
    ws = Workspace(model_ref(model), model.tokenizer, settings)
    names = tuple(f"image {i + 1}" for i in range(len(prompt.images)))
    ws.set_draft(Draft(prompt.user, prompt.system, prompt.think, prompt.images, names))
    return ws, ws.start_generation(settings)


def session_model(path: str) -> str:
    """The model a session names (read from the file whole, checked; nothing is loaded)."""
    try:
        return open_session(path).model.source
    except NeedsItsModel as error:
        return error.source


def session_on(path: str, model: Any) -> Workspace:
    """The session at `path`, bound to the loaded `model`, which must be the one it was made with."""
    ref = model_ref(model)
    ws = open_session(path, ref, model.tokenizer)
    if not ws.adopt_model(ref, model.tokenizer):
        raise SessionModelError(f"{path} was made with {ws.model.name}, whose vocabulary differs from "
                                f"{ref.name}'s; open it with its own model")
    return ws


def start_rewrite(ws: Workspace, span: tuple[int, int], locks: Iterable[int], settings: SamplerSettings) -> Run:
    """Lock the extra positions (one step of the document) and record a re-denoise of `span` as a run."""
    doc = ws.document
    if doc is None:
        raise SessionError("the session holds no text to rewrite")
    extra = set(locks) - doc.locks
    if extra:
        ws.change_document(doc.with_locks(doc.locks | extra), "Lock tokens")
    return ws.start_edit(RunKind.REDENOISE, settings, span)


def save_after(path: str, ws: Workspace, run: Run) -> None:
    """Close the run (a re-denoise becomes a proposal) and write the session."""
    ws.finish_run(run.id, cancelled=run.result is not None and run.result.cancelled)
    save_workspace(path, ws, "Diffusion Desk (command line)")

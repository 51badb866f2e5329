"""The one interface of every engine the window runs (the local Generator, a server's clients), and a run's events.

A `Run` carries everything its stream needs (prompt, settings, span, locks, base ids), so `run_events` turns any run
into the engine call it stands for; nothing else has to remember how a run was asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from models.engine.edit_plans import fill_plans, span_plans
from models.work.events import Event
from models.work.prompts import Prompt
from models.work.runs import Run, RunKind
from models.work.settings import SamplerSettings

Cancel = Any  # a threading.Event, or None: the engine stops at its next check once it is set


class Engine(Protocol):
    """models.engine.generator.Generator and app.remote.client.RemoteGenerator: streams of events, in order."""

    def generate(self, prompt: Prompt, settings: SamplerSettings, cancel: Cancel = None,
                 image_budget: int | None = None) -> Iterator[Event]: ...

    def rewrite(self, generation: Any, span: tuple[int, int], locks: Iterable[int] = (),
                settings: SamplerSettings | None = None, cancel: Cancel = None) -> Iterator[Event]: ...

    def fill_around(self, generation: Any, locks: Iterable[int], settings: SamplerSettings | None = None,
                    cancel: Cancel = None) -> Iterator[Event]: ...


@runtime_checkable
class LocalEngine(Engine, Protocol):
    """An engine in this process, whose edits can be planned (and refused) before they run."""

    def end_ids(self) -> set[int]: ...


class AsyncEngine(Protocol):
    """app.remote.async_client.AsyncRemoteGenerator: the same calls, each awaited for its stream."""

    async def generate(self, prompt: Prompt, settings: SamplerSettings, cancel: Cancel = None,
                       image_budget: int | None = None) -> AsyncIterator[Event]: ...

    async def rewrite(self, generation: Any, span: tuple[int, int], locks: Iterable[int] = (),
                      settings: SamplerSettings | None = None, cancel: Cancel = None) -> AsyncIterator[Event]: ...

    async def fill_around(self, generation: Any, locks: Iterable[int], settings: SamplerSettings | None = None,
                          cancel: Cancel = None) -> AsyncIterator[Event]: ...


def run_events(engine: Engine | AsyncEngine, run: Run, cancel: Cancel) -> Any:
    """The engine's stream for `run` (for an AsyncEngine, the coroutine that starts it)."""
    from models.engine.generator import Generation  # with torch, which a loaded engine (or its client) has imported

    settings = run.settings
    if run.kind in (RunKind.GENERATE, RunKind.REWRITE):  # a rewrite is a chat turn whose answer takes the span
        return engine.generate(run.prompt, settings, cancel, image_budget=run.image_budget)
    generation = Generation(run.prompt, run.base_ids, settings, run.locks)
    if run.kind is RunKind.FILL:
        return engine.fill_around(generation, run.locks, settings, cancel)
    return engine.rewrite(generation, run.span, run.locks, settings, cancel)


def check_edit(kind: RunKind, token_ids: Any, canvas_length: int, span: tuple[int, int], locks: Iterable[int],
               end_ids: set[int]) -> None:
    """Raise EditError for an edit the engine would refuse, before it is recorded as a run (a rewrite is a chat
    turn: nothing to plan)."""
    if kind is RunKind.FILL:
        fill_plans(token_ids, canvas_length, locks, end_ids)
    elif kind is RunKind.REDENOISE:
        span_plans(token_ids, canvas_length, span, locks, end_ids)

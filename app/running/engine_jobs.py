"""The work the window hands to its worker thread: plain functions over the engine, with no Qt in them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from models.checkpoint.heap import settle_all
from models.checkpoint.loading import load_checkpoint
from models.work.events import Event, GenerationResult
from models.work.vocabulary import model_ref


@dataclass(frozen=True)
class LoadProgress:
    fraction: float
    message: str


#: Plans that need the user's word before a load: the model does not simply fit (or cannot run here).
ASK_FIRST = frozenset({"offload", "offload-disk", "unsupported", "too-big"})


@dataclass(frozen=True)
class PlanNeeded:
    """What a load job returns instead of a model when the user must choose how to load it."""

    plan: Any  # models.checkpoint.memory_plan.MemoryPlan


def load_job(source: str | None, options: dict[str, Any] | None = None, allow_download: bool = True
             ) -> Callable[[Callable[[Any], None], threading.Event], Any]:
    """Load a checkpoint. Without `options` a memory plan comes first (config and headers only, no weights): a model
    that fits loads at once; otherwise the job returns the plan, for the user to choose how to load (or not)."""

    def run(emit: Callable[[Any], None], cancel: threading.Event) -> Any:
        if options is None and source:
            plan = _plan(source, emit)
            if plan is not None and plan.verdict in ASK_FIRST:
                return PlanNeeded(plan)
        loaded = load_checkpoint(source, progress=lambda f, m: emit(LoadProgress(f, m)), cancel=cancel,
                                 allow_download=allow_download, **(options or {}))
        # The tokenizer's fingerprint hashes the whole vocabulary (0.5-0.7 s at 262,144 tokens): here, not in the
        # window's first pass that asks which model a session belongs to. It is kept with the tokenizer.
        model_ref(loaded)
        # The modules and the model just loaded move out of the collector's reach, so no full collection walks them
        # while a run streams (models/checkpoint/heap.py). One full collection here, while the window still says
        # "Loading".
        settle_all()
        return loaded

    return run


def _plan(source: str, emit: Callable[[Any], None]) -> Any:
    from models.checkpoint.load_errors import LoadError
    from models.checkpoint.memory_plan import plan_memory

    emit(LoadProgress(0.01, f"Checking what {source} needs"))
    try:
        return plan_memory(source)
    except (LoadError, OSError, ValueError):
        return None  # no plan without the files (a hub id not yet downloaded): the load itself says what is wrong


def stream_job(make_events: Callable[[threading.Event], Iterator[Event]]
               ) -> Callable[[Callable[[Any], None], threading.Event], GenerationResult | None]:
    """Forward every engine event to the GUI; return the final result (a cancelled one too)."""

    def run(emit: Callable[[Any], None], cancel: threading.Event) -> GenerationResult | None:
        result = None
        for event in make_events(cancel):
            emit(event)
            if isinstance(event, GenerationResult):
                result = event
        return result

    return run

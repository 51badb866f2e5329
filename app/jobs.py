"""The work the window hands to its worker thread: plain functions over the engine, with no Qt in them."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from models.events import Event, GenerationResult
from models.loading import LoadedModel, load_checkpoint
from models.settings import SamplerSettings


@dataclass(frozen=True)
class LoadProgress:
    fraction: float
    message: str


def with_seed(settings: SamplerSettings) -> SamplerSettings:
    """Random-seed runs still use a definite seed, so the user can note it and reproduce the run."""
    if settings.seed is not None:
        return settings
    return settings.with_values(seed=random.randrange(2**31))


def load_job(source: str | None) -> Callable[[Callable[[Any], None], threading.Event], LoadedModel]:
    def run(emit: Callable[[Any], None], cancel: threading.Event) -> LoadedModel:
        return load_checkpoint(source, progress=lambda f, m: emit(LoadProgress(f, m)), cancel=cancel)

    return run


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

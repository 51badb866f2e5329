"""The work the window hands to a server, as coroutines for app/running/qasync_runner.AsyncRunner (no Qt in them)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.work.events import GenerationResult


@dataclass(frozen=True)
class Connected:
    """A server reached: the client to run on, and its model as the window sees it (name, shape, tokenizer)."""

    remote: Any  # app.remote.async_client.AsyncRemoteGenerator
    model: Any  # app.remote.client_common.RemoteModel


def connect_job(url: str, token_file: str, ca_file: str | None = None) -> Callable[..., Any]:
    async def run(emit: Callable[[Any], None], cancel: threading.Event) -> Connected:
        from app.remote.async_client import AsyncRemoteGenerator
        from app.running.engine_jobs import LoadProgress

        emit(LoadProgress(0.1, f"Connecting to {url}"))
        remote = await AsyncRemoteGenerator.connect(url, token_file=token_file, cafile=ca_file or None)
        try:
            emit(LoadProgress(0.5, "Fetching the tokenizer"))
            model = await remote.remote_model()  # the tokenizer files, fetched once and cached by hash
        except BaseException:
            await remote.close()
            raise
        emit(LoadProgress(1.0, "Connected"))
        return Connected(remote, model)

    return run


def remote_stream_job(start: Callable[[threading.Event], Any]) -> Callable[..., Any]:
    """Every event of a server's run, in order; the final result (a cancelled one too). `start(cancel)` gives the
    coroutine that starts the run (models.engine.engines.run_events, called on the async client)."""

    async def run(emit: Callable[[Any], None], cancel: threading.Event) -> GenerationResult | None:
        result = None
        async for event in await start(cancel):
            emit(event)
            if isinstance(event, GenerationResult):
                result = event
        return result

    return run

"""Helpers for the remote-engine tests: a server on a free loopback port for the length of a test, event comparison."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from app.remote.engine_host import EngineHost
from app.remote.serve import ServerThread, listen
from app.remote.server import build_app
from models.events import Event

TOKEN = "test-token-" + "k" * 32
TIMING_FIELDS = {"elapsed", "seconds", "tokens_per_second", "parallel_tokens_per_second"}


@dataclass
class Served:
    url: str
    host: EngineHost
    port: int


@contextlib.contextmanager
def running_server(
    loaded, token: str = TOKEN, certfile: str | None = None, keyfile: str | None = None, **host_options
) -> Iterator[Served]:
    """The app on uvicorn in a background thread, listening on 127.0.0.1 only; stopped when the block ends."""
    host = EngineHost(loaded, **host_options)
    server = ServerThread(build_app(host, token), listen("127.0.0.1", 0), certfile, keyfile).start()
    scheme = "https" if certfile else "http"
    try:
        yield Served(url=f"{scheme}://127.0.0.1:{server.port}", host=host, port=server.port)
    finally:
        server.stop()


def assert_same_events(remote: list[Event], local: list[Event]) -> None:
    """Event for event, field for field (arrays exactly, dtypes included); only wall-clock timings may differ."""
    assert [type(e) for e in remote] == [type(e) for e in local]
    for got, want in zip(remote, local, strict=True):
        for field in dataclasses.fields(want):
            if field.name in TIMING_FIELDS:
                continue
            a, b = getattr(got, field.name), getattr(want, field.name)
            if isinstance(b, np.ndarray):
                assert a.dtype == b.dtype and a.shape == b.shape, field.name
                assert np.array_equal(a, b), f"{type(want).__name__}.{field.name} differs"
            else:
                assert a == b, f"{type(want).__name__}.{field.name}: {a!r} != {b!r}"

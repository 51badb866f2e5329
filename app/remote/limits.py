"""The server's connection limits and timeouts (docs/remote-protocol.md, "Limits"), in one place.

uvicorn's own settings carry most of them (`timeout_keep_alive`, `ws_ping_interval`, `ws_ping_timeout`,
`h11_max_incomplete_event_size`); app/remote/transport.py adds what uvicorn has no setting for: a cap on open
connections, a deadline for a request to arrive whole, and a send timeout for a client that stops reading.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

FD_RESERVE = 64  # descriptors kept free for the process itself (model files, pipes, the engine's threads)


@dataclass(frozen=True)
class ServerLimits:
    # Open connections (HTTP and WebSocket together); more are answered 503 and closed at once. Kept under the
    # process's open-file limit (`for_this_process`), so accepting never runs out of descriptors.
    max_connections: int = 64
    # A request's head and body must arrive whole within this many seconds of the connection opening (or of the
    # previous response): half-sent requests (slowloris) are answered 408 and closed.
    request_timeout: float = 30.0
    # uvicorn's timeout_keep_alive: an idle keep-alive HTTP connection is closed after this many seconds.
    keep_alive_timeout: int = 5
    # uvicorn's ws_ping_interval / ws_ping_timeout: a WebSocket peer that does not answer a ping within the
    # timeout (gone, half-open, or not reading) is dropped and its run cancelled.
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    # A client that takes none of the data queued for it (the socket's buffers full) for this many seconds is
    # dropped: its run is cancelled and the engine goes to the next client.
    send_timeout: float = 30.0
    # uvicorn's h11_max_incomplete_event_size: the most bytes of request head (request line and headers).
    max_header_bytes: int = 16 * 1024
    # uvicorn's backlog: connections the kernel queues before they are accepted, and the most asyncio accepts in one
    # go (each takes a descriptor before the cap can close it). Lowered with max_connections to fit the limit.
    backlog: int = 2048

    def for_this_process(self) -> ServerLimits:
        """These limits with `max_connections` lowered, if need be, to fit the open-file limit (`ulimit -n`)."""
        try:
            import resource
        except ImportError:  # not POSIX: no such limit to fit
            return self
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self
        connections = max(1, min(self.max_connections, soft - FD_RESERVE))
        # A flood accepted in one go holds `backlog` descriptors at once on top of the open connections: measured,
        # 1,100 connections at once under `ulimit -n 1024` ran accept() out of descriptors with uvicorn's 2048.
        backlog = max(16, min(self.backlog, (soft - FD_RESERVE - connections) // 2))
        return dataclasses.replace(self, max_connections=connections, backlog=backlog)

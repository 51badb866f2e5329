"""uvicorn, bounded: a cap on open connections, deadlines for requests and sends, and calm logs under a flood.

uvicorn's settings cover idle keep-alive connections, WebSocket pings, header size and frame size (see
`uvicorn_server`). They leave four gaps, closed here by small subclasses of uvicorn's own protocols:

- A half-sent request (slowloris) is never timed out: uvicorn's keep-alive timer runs only between requests, and
  any byte received cancels it. `request_timeout` is a deadline for each request to arrive whole.
- Connections are not capped: `limit_concurrency` answers 503 only to a request that arrived whole, so half-sent
  ones pile up until accept() fails with "Too many open files". `max_connections` caps them (see `_Gate`).
- A client that stops reading stalls the sender forever: a send waits for the socket to drain. `send_timeout`
  drops such a client, which cancels its run and frees the engine.
- When a ping goes unanswered, uvicorn closes the transport, but `close()` waits for unread data to drain, which a
  silent or vanished peer never reads: the connection, and the run on it, stayed. It is aborted instead.

And accept() running out of descriptors (possible only when the cap does not fit the open-file limit) is logged
once a minute, not once a second with a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from app.remote.limits import ServerLimits

log = logging.getLogger("diffusion_desk.remote")
ACCEPT_LOG_EVERY_S = 60.0


def _response(status: str, message: str) -> bytes:
    body = json.dumps({"error": {"message": message, "type": "server_limit", "code": "limit"}}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Gate:
    """One server's connection cap, and what it has said about it (once per episode, not per connection).

    At the cap, a newcomer takes the place of the oldest connection that has no request in hand (one still sending
    its request head, or idle between requests): a client that sends its request at once is served even while a
    flood of half-sent requests fills every place. Only when every place holds a request in progress or a
    WebSocket is the newcomer refused.
    """

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self.full = False
        self.counted = 0  # connections evicted or refused while full

    def admit(self, newcomer: BoundedHttp, connections: set[Any]) -> bool:
        open_now = [c for c in connections if c.transport is not None and not c.transport.is_closing()]
        if len(open_now) <= self.limits.max_connections:
            if self.full:
                log.warning("below the connection limit again (%d connections evicted or refused meanwhile)",
                            self.counted)
                self.full, self.counted = False, 0
            return True
        if not self.full:
            log.warning("connection limit reached (%d open): the oldest connections without a request in hand are "
                        "closed to make room", self.limits.max_connections)
            self.full = True
        self.counted += 1
        idle = [c for c in open_now if c is not newcomer and isinstance(c, BoundedHttp) and not c.in_hand()]
        if not idle:
            return False
        min(idle, key=lambda c: c.opened).transport.abort()  # abort: close() would wait on a peer that reads nothing
        return True


class _SendDeadline:
    """A transport whose buffer stays full (the peer reads nothing) for `send_timeout` seconds is aborted."""

    limits: ServerLimits
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    _stalled: asyncio.TimerHandle | None = None

    def _start_send_deadline(self) -> None:
        if self._stalled is None:
            self._stalled = self.loop.call_later(self.limits.send_timeout, self._send_overdue)

    def _stop_send_deadline(self) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def _send_overdue(self) -> None:
        self._stalled = None
        log.info("dropped a client that read nothing for %g s", self.limits.send_timeout)
        self.transport.abort()  # close() would wait for the unread data to drain: forever


class BoundedHttp(_SendDeadline, H11Protocol):
    gate: _Gate
    _deadline: asyncio.TimerHandle | None = None
    opened = 0.0

    def in_hand(self) -> bool:
        """Whether a request arrived whole enough to reach the app and is not answered yet."""
        return self.cycle is not None and not self.cycle.response_complete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.opened = time.monotonic()
        if not self.gate.admit(self, self.connections):
            message = f"the server is at its limit of {self.limits.max_connections} connections; try again shortly"
            transport.write(_response("503 Service Unavailable", message))
            transport.close()
            return
        self._arm_request_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_request_deadline()  # the next request on this connection gets its own deadline

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()  # the WebSocket protocol takes the connection over, with its own pings and send deadline
        super().handle_websocket_upgrade(event)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._start_send_deadline()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stop_send_deadline()

    def _arm_request_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.limits.request_timeout, self._request_overdue)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._stop_send_deadline()

    def _request_overdue(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state is h11.DONE:
            return  # the request arrived whole: the app answers it, however long that takes
        log.debug("closed a connection whose request did not arrive within %g s", self.limits.request_timeout)
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # nothing answered yet (SEND_RESPONSE: not begun)
            message = f"the request did not arrive whole within {self.limits.request_timeout:g} s"
            self.transport.write(_response("408 Request Timeout", message))
        self.transport.close()


class BoundedWebSocket(_SendDeadline, WebSocketsSansIOProtocol):
    def pause_writing(self) -> None:
        super().pause_writing()
        self._start_send_deadline()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stop_send_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_send_deadline()
        super().connection_lost(exc)

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()  # sends the close frame (1011) and closes
        self.transport.abort()  # close() waits for unread data to drain, which a silent or vanished peer never does
        # The app's next send fails as a disconnect (uvicorn would raise RuntimeError: a send after the close).
        self.disconnected = True
        self.writable.set()


class BoundedServer(uvicorn.Server):
    """uvicorn's server, logging "out of descriptors" on accept once a minute instead of once a second."""

    loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: Any = None) -> None:
        self.loop = loop = asyncio.get_running_loop()
        last = [0.0]

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            if "out of system resource" not in str(context.get("message", "")):
                loop.default_exception_handler(context)
                return
            now = time.monotonic()
            if now - last[0] >= ACCEPT_LOG_EVERY_S:
                last[0] = now
                log.error("cannot accept connections: %s (raise the open-file limit, `ulimit -n`)",
                          context.get("exception"))

        loop.set_exception_handler(handler)
        await super().startup(sockets=sockets)


def uvicorn_server(
    app: Any,
    certfile: str | None = None,
    keyfile: str | None = None,
    log_level: str = "warning",
    limits: ServerLimits | None = None,
) -> BoundedServer:
    """A uvicorn server for `app` under `limits` (fitted to this process's open-file limit)."""
    from app.remote.protocol import MAX_FRAME_BYTES

    limits = (limits or ServerLimits()).for_this_process()
    http = type("Http", (BoundedHttp,), {"limits": limits, "gate": _Gate(limits)})
    ws = type("WebSocket", (BoundedWebSocket,), {"limits": limits})
    # Frames over MAX_FRAME_BYTES get a clear error from the app; twice that is cut by the WebSocket layer (1009).
    config = uvicorn.Config(
        app,
        http=http,
        ws=ws,
        ws_max_size=2 * MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        ws_ping_interval=limits.ping_interval,
        ws_ping_timeout=limits.ping_timeout,
        timeout_keep_alive=limits.keep_alive_timeout,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        backlog=limits.backlog,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        log_level=log_level,
        lifespan="on",
    )
    return BoundedServer(config)

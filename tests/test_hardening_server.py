"""The server under clients that misbehave at the connection level: half-sent requests, floods, clients that stop
reading or vanish. Each is bounded by a setting of `ServerLimits`, and other clients are served meanwhile.

Loopback only. Every wait is a deadline derived from the setting under test plus a fixed slack for this loaded
machine; the runs the misbehaving clients start would take minutes, so a pass shows the setting acted.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.request

from app.cli.serve import listen
from app.remote.client import RemoteGenerator
from app.remote.limits import ServerLimits
from app.remote.protocol import PROTOCOL_VERSION
from models.work.events import GenerationResult
from models.work.prompts import Prompt
from tests.remote_helpers import TOKEN, RawWebSocket, running_server, wait_until

SLACK = 15.0  # seconds on top of a configured bound: a busy 2-core machine, a model step, thread hand-offs
LOG = "diffusion_desk.remote"


def served_meanwhile(served, loaded) -> None:
    """A well-behaved client gets a whole generation (queued behind whatever holds the engine)."""
    settings = loaded.defaults.with_values(seed=1, max_denoising_steps=2)
    with RemoteGenerator(served.url, TOKEN, timeout=SLACK) as client:
        assert isinstance(list(client.generate(Prompt(user="hi"), settings))[-1], GenerationResult)


def long_run(served, loaded, client: RawWebSocket) -> None:
    """`client` starts a run that would take minutes, and the engine is seen to be busy with it."""
    settings = loaded.defaults.with_values(seed=2, max_denoising_steps=48, max_new_tokens=4096, top_k=10)
    client.send({"type": "hello", "id": 0, "protocol": PROTOCOL_VERSION})
    client.send({"type": "generate", "id": 1, "prompt": {"user": "long"}, "settings": settings.to_dict()})
    assert wait_until(lambda: served.host.busy, SLACK)


def small_send_buffers() -> socket.socket:
    """A loopback listening socket whose connections get a 4 KiB send buffer (they inherit it), so a client that
    reads nothing fills the server's buffers in a second rather than after megabytes."""
    sock = listen("127.0.0.1", 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return sock


def http_get(port: int, path: str = "/v1/models") -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=SLACK) as response:
        return response.status


def half_sent(port: int) -> socket.socket:
    """A connection that sends part of a request head and then nothing (slowloris)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=SLACK)
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return sock


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_silent_websocket_client_is_dropped_at_the_ping_timeout(loaded_text, caplog):
    """Half-open: the client neither reads nor answers pings. uvicorn's ping (ws_ping_interval, ws_ping_timeout)
    finds it; the connection is aborted (close() would wait forever on its unread data) and its run cancelled."""
    limits = ServerLimits(ping_interval=0.5, ping_timeout=0.5)
    caplog.set_level(logging.INFO)
    with running_server(loaded_text, limits=limits, sock=small_send_buffers()) as served:
        silent = RawWebSocket(served.port, receive_buffer=4096)  # a vanished peer ACKs nothing: buffers fill
        long_run(served, loaded_text, silent)
        bound = limits.ping_interval + limits.ping_timeout + SLACK
        assert wait_until(lambda: served.host.runs_cancelled == 1 and not served.host.busy, bound)
        served_meanwhile(served, loaded_text)
        assert wait_until(lambda: served.open_connections() == 0, bound)  # the dropped socket is not leaked
        silent.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text  # no traceback logged


def test_a_client_that_stops_reading_is_dropped_at_the_send_timeout(loaded_text, caplog):
    """Pings off, so only the send timeout acts: the client's socket stays open but it reads nothing, the buffers
    fill (kept small here, on both ends), and after send_timeout the server drops it and frees the engine."""
    limits = ServerLimits(ping_interval=None, ping_timeout=None, send_timeout=1.0)
    caplog.set_level(logging.INFO, logger=LOG)
    with running_server(loaded_text, limits=limits, sock=small_send_buffers()) as served:
        stuck = RawWebSocket(served.port, receive_buffer=4096)
        long_run(served, loaded_text, stuck)
        assert wait_until(lambda: served.host.runs_cancelled == 1 and not served.host.busy, limits.send_timeout + SLACK)
        served_meanwhile(served, loaded_text)
        stuck.close()
    assert "dropped a client that read nothing for 1 s" in caplog.text


def test_half_sent_requests_get_408_at_the_request_timeout(loaded_text):
    limits = ServerLimits(request_timeout=1.0)
    with running_server(loaded_text, limits=limits) as served:
        slow = [half_sent(served.port) for _ in range(3)]
        body = socket.create_connection(("127.0.0.1", served.port), timeout=SLACK)  # a head, then half a body
        body.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode() + b'{"messages": ['
        )
        silent = socket.create_connection(("127.0.0.1", served.port), timeout=SLACK)  # connects, sends nothing
        for sock in (*slow, body, silent):
            sock.settimeout(limits.request_timeout + SLACK)  # recv raises if the deadline did not act by then
            reply = answer(sock)
            assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive whole within 1 s" in reply, reply
            sock.close()
        assert http_get(served.port) == 200
        assert wait_until(lambda: served.open_connections() == 0, SLACK)


def test_a_request_head_over_the_header_limit_gets_400(loaded_text):
    limits = ServerLimits()
    with running_server(loaded_text, limits=limits) as served:
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=SLACK)
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (limits.max_header_bytes + 1024))
        assert answer(sock).startswith(b"HTTP/1.1 400")
        sock.close()
        assert http_get(served.port) == 200


def test_a_flood_of_half_sent_requests_does_not_lock_clients_out(loaded_text, caplog):
    """Ten times the connection cap, all half-sent and left open: a client that sends its request is still served
    (the oldest half-sent connections make room), the flood is told the limit, and the log says so once."""
    limits = ServerLimits(max_connections=8, request_timeout=600)  # no timeout helps here: the cap must
    caplog.set_level(logging.WARNING, logger=LOG)
    with running_server(loaded_text, limits=limits) as served:
        flood = [half_sent(served.port) for _ in range(80)]
        for _ in range(3):
            assert http_get(served.port) == 200
        served_meanwhile(served, loaded_text)
        assert wait_until(lambda: served.open_connections() <= limits.max_connections, SLACK)
        closed = 0
        for sock in flood:
            sock.settimeout(0.2)
            try:
                closed += sock.recv(1) == b""
            except OSError:  # reset: aborted to make room
                closed += 1
            sock.close()
        assert closed >= len(flood) - limits.max_connections
    assert caplog.text.count("connection limit reached") == 1, caplog.text


def test_at_the_cap_with_every_place_busy_a_newcomer_is_told_503(loaded_text):
    limits = ServerLimits(max_connections=2)
    with running_server(loaded_text, limits=limits) as served:
        holders = [RawWebSocket(served.port), RawWebSocket(served.port)]  # WebSockets: never evicted
        refused = socket.create_connection(("127.0.0.1", served.port), timeout=SLACK)
        reply = answer(refused)
        assert reply.startswith(b"HTTP/1.1 503") and b"limit of 2 connections" in reply, reply
        for holder in holders:
            holder.close()
        assert wait_until(lambda: served.open_connections() == 0, SLACK)
        assert http_get(served.port) == 200


def test_running_out_of_descriptors_on_accept_is_logged_once(loaded_text, caplog):
    """asyncio reports a failed accept() (EMFILE) through the loop's exception handler once a second (here five
    reports at once, on the server's own loop); the server logs it once a minute, without a traceback. The cap on
    connections keeps this from happening at all unless the process itself holds nearly all its descriptors."""
    caplog.set_level(logging.WARNING)
    with running_server(loaded_text) as served:
        loop = served.server.server.loop
        for _ in range(5):
            future = asyncio.run_coroutine_threadsafe(_report_emfile(), loop)
            future.result(timeout=SLACK)
    lines = [r for r in caplog.records if "cannot accept connections" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and "Too many open files" in lines[0].getMessage()


async def _report_emfile() -> None:
    asyncio.get_running_loop().call_exception_handler(
        {"message": "socket.accept() out of system resource", "exception": OSError(24, "Too many open files")}
    )

"""Helpers for the remote-engine tests: a server on a free loopback port for the length of a test, event comparison."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from app.cli.serve import ServerThread, listen
from app.remote.engine_host import EngineHost
from app.remote.limits import ServerLimits
from app.remote.protocol import encode_frame
from app.remote.server import build_app
from models.work.events import Event

TOKEN = "test-token-" + "k" * 32
TIMING_FIELDS = {"elapsed", "seconds", "tokens_per_second", "parallel_tokens_per_second"}


@dataclass
class Served:
    url: str
    host: EngineHost
    port: int
    server: ServerThread

    def open_connections(self) -> int:
        """Connections uvicorn holds open now (HTTP and WebSocket)."""
        return len(self.server.server.server_state.connections)


@contextlib.contextmanager
def running_server(
    loaded,
    token: str = TOKEN,
    certfile: str | None = None,
    keyfile: str | None = None,
    limits: ServerLimits | None = None,
    sock: socket.socket | None = None,
    **host_options,
) -> Iterator[Served]:
    """The app on uvicorn in a background thread, listening on 127.0.0.1 only (or on `sock`, a loopback socket the
    test prepared); stopped when the block ends."""
    host = EngineHost(loaded, **host_options)
    sock = sock or listen("127.0.0.1", 0)
    server = ServerThread(build_app(host, token), sock, certfile, keyfile, limits).start()
    scheme = "https" if certfile else "http"
    try:
        yield Served(url=f"{scheme}://127.0.0.1:{server.port}", host=host, port=server.port, server=server)
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


class RawWebSocket:
    """A WebSocket client on a bare socket. It sends what it is told and reads only when asked (`read_message`):
    left alone it reads nothing after the handshake, not the server's frames, not even its pings. Seen from the
    server, a client that stopped reading, or whose network vanished (a half-open connection)."""

    def __init__(self, port: int, token: str = TOKEN, receive_buffer: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # set before connecting, so the TCP window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(20)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /v1/engine HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: not one byte of a frame is read
            byte = self.sock.recv(1)
            if not byte:
                raise ConnectionError("the server closed the connection during the handshake")
            head += byte
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode("latin-1"))

    def send(self, header: dict) -> None:
        """One masked binary frame, as a client must send it."""
        self.send_frame(0x2, encode_frame(header))

    def send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            prefix = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 2**16:
            prefix = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            prefix = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(prefix + mask + masked)

    def read_message(self) -> bytes | None:
        """The next data message (a ping is answered on the way, as a live client does); None once closed."""
        while True:
            head = self._exactly(2)
            if head is None:
                return None
            opcode, size = head[0] & 0x0F, head[1] & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._exactly(2) or b"\0\0")[0]
            elif size == 127:
                size = struct.unpack("!Q", self._exactly(8) or b"\0" * 8)[0]
            payload = self._exactly(size) if size else b""
            if payload is None or opcode == 0x8:
                return None
            if opcode == 0x9:
                self.send_frame(0xA, payload)
            elif opcode in (0x1, 0x2):
                return payload

    def _exactly(self, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


def wait_until(condition, timeout: float, step: float = 0.02) -> bool:
    """Whether `condition()` came true within `timeout` seconds (a bound the test derives from a setting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()

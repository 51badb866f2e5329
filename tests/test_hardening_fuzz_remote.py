"""Fuzzing the server with hypothesis: every command and OpenAI body with any JSON value in any field (every type,
any nesting, numbers of any size), and clients that go slow, silent or half-open. Every frame gets one reply (an
error frame, or the command's answer) and the connection stays usable; every body gets a 200 or an OpenAI-shaped
4xx; a misbehaving client is dropped within the bound its timeout sets; nothing is logged as an error.

Modest example counts in the suite (fixed, so a run is repeatable); `HYPOTHESIS_PROFILE=thorough` runs 20x as
many fresh ones. Loopback only.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import struct

import numpy as np
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from app.remote.limits import ServerLimits
from app.remote.protocol import MAGIC, PROTOCOL_VERSION, decode_frame, encode_frame
from tests.hardening_support import BigInt, Nested, fuzz, json_text, json_values, mutated, paths, replaced
from tests.remote_helpers import TOKEN, RawWebSocket, running_server, wait_until
from tests.test_hardening_server import http_get, served_meanwhile, small_send_buffers
from tests.test_remote_security import raw

SLACK = 15.0
IDS = np.arange(32, dtype="<i8").tobytes()
SETTINGS = {"max_denoising_steps": 1, "max_new_tokens": 32, "seed": 1}
GENERATION = {"prompt": {"user": "hi", "system": "", "think": False, "images": [], "history": []},
              "token_ids": {"$array": 0, "dtype": "<i8", "shape": [32]}, "settings": SETTINGS}
COMMANDS = {  # one well-formed frame of each command: (header, buffers)
    "generate": ({"type": "generate", "id": 1, "prompt": {"user": "hi", "system": "", "think": False, "images": [],
                  "history": [{"user": "a", "answer": "b", "images": []}]}, "settings": SETTINGS,
                  "image_budget": None, "buffers": []}, []),
    "rewrite": ({"type": "rewrite", "id": 1, "generation": GENERATION, "span": [0, 4], "locks": [5],
                 "settings": SETTINGS, "buffers": [len(IDS)]}, [IDS]),
    "fill_around": ({"type": "fill_around", "id": 1, "generation": GENERATION, "locks": [1], "settings": None,
                     "buffers": [len(IDS)]}, [IDS]),
    "from_text": ({"type": "from_text", "id": 1, "prompt": {"user": "hi"}, "text": "some text", "settings": {},
                   "buffers": []}, []),
    "info": ({"type": "info", "id": 1}, []),
    "cancel": ({"type": "cancel", "id": 1}, []),
    "load_model": ({"type": "load_model", "id": 1, "source": "nowhere"}, []),
    "hello": ({"type": "hello", "id": 1, "protocol": PROTOCOL_VERSION, "client": "fuzz"}, []),
}
ANSWERS = {"error", "started", "info", "generation", "loaded", "hello"}


@pytest.fixture(scope="module")
def served(loaded_text):
    with running_server(loaded_text) as served:
        yield served


def no_errors_logged(caplog) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    caplog.clear()
    assert not bad, [r.getMessage() for r in bad]


def frame_bytes(header: object, buffers: list[bytes]) -> bytes:
    text = json_text(header).encode("utf-8", "surrogatepass")
    return struct.pack("<4sI", MAGIC, len(text)) + text + b"".join(buffers)


PROBE = 987_654  # the id of the `info` sent after each fuzzed frame


def replies_until_probe(socket) -> list[dict]:
    """The answers (not a run's `queued` or events) to the fuzzed frame; a run it started is cancelled and read to
    its end. A run's `started` comes from the run's own task, so it may follow the probe's answer."""
    answers, running, probed = [], set(), False
    while not probed or not answers or running:
        try:
            reply = decode_frame(socket.recv(timeout=1.0 if probed and not running else SLACK))
        except TimeoutError:
            assert not running
            break  # probed, and no answer came: the fuzzed frame was a cancel
        ended = reply["type"] == "error" or reply.get("event") == "GenerationResult"
        if reply["type"] == "info" and reply.get("id") == PROBE:
            probed = True
        elif reply["type"] in ANSWERS and not (reply["type"] == "error" and reply.get("id") in running):
            answers.append(reply)
            if reply["type"] == "started":
                running.add(reply["id"])
                socket.send(encode_frame({"type": "cancel", "id": reply["id"]}))
        if ended:
            running.discard(reply.get("id"))
    return answers


FIELDS = [(name, path) for name, (header, _) in sorted(COMMANDS.items()) for path in paths(header)]


# The issue's own cases first (explicit examples run in every profile), then hypothesis's.
@example(field=("generate", ("prompt", "images")), value=5)
@example(field=("generate", ("prompt", "history", 0, "images")), value=True)
@example(field=("generate", ("settings", "t_max")), value=10**400)
@example(field=("generate", ("settings", "max_new_tokens")), value=BigInt("9" * 5000))
@example(field=("fill_around", ("generation", "token_ids", "dtype")), value=["<i8"])
@example(field=("fill_around", ("generation", "token_ids", "dtype")), value={"<i8": 1})
@example(field=("fill_around", ("generation", "token_ids", "shape")), value=[0, 10**30])
@example(field=("info", ("id",)), value=BigInt("9" * 5000))
@example(field=("generate", ("prompt",)), value=Nested(900))
@fuzz(60)
@given(field=st.sampled_from(FIELDS), value=json_values())
def test_fuzz_every_field_of_every_command(served, caplog, field, value):
    name, path = field
    header, buffers = COMMANDS[name]
    header = replaced(header, path, value)
    caplog.set_level(logging.INFO)
    socket = raw(served)
    try:
        socket.send(frame_bytes(header, buffers))
        socket.send(encode_frame({"type": "info", "id": PROBE}))
        try:
            answers = replies_until_probe(socket)
        except ConnectionClosed:  # allowed only after a hello of another version, refused by design
            assert header.get("type") == "hello" and header.get("protocol") != PROTOCOL_VERSION, header
            return
        event(f"{name}: {', '.join(a['type'] + ' ' + str(a.get('code', '')) for a in answers) or 'no answer'}")
        assert len(answers) <= 1, answers  # one reply per frame (none to a cancel)
        for reply in answers:
            if reply["type"] == "error":
                assert isinstance(reply["message"], str) and 0 < len(reply["message"]) < 1000, reply
    finally:
        socket.close()
    no_errors_logged(caplog)


BODY = {"model": None, "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [
    {"type": "text", "text": "hi"}]}], "max_tokens": 32, "steps": 1, "seed": 1, "stream": False, "think": False,
    "image_budget": None, "n": 1, "tools": [], "temperature": 0.7, "t_max": 0.8}


def post(port: int, body: bytes) -> tuple[int, str, bytes] | None:
    """(status, content type, body) of a chat completion; None if it was still running at the deadline (then the
    connection is closed, which cancels the run)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=SLACK)
    try:
        connection.request("POST", "/v1/chat/completions", body,
                           {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    except TimeoutError:
        return None
    finally:
        connection.close()


def body_with(**fields) -> dict:
    return {**BODY, **fields}


@example(body=body_with(max_tokens=10**400))
@example(body=body_with(t_max=10**400))
@example(body=body_with(seed=BigInt("7" * 5000)))
@example(body=body_with(messages=Nested(900)))
@example(body=body_with(tools=[{"type": "function", "function": {"name": "f"}}]))
@fuzz(40)
@given(body=mutated(BODY))
def test_fuzz_every_field_of_a_chat_completion(served, caplog, body):
    caplog.set_level(logging.INFO)
    outcome = post(served.port, json_text(body).encode("utf-8", "surrogatepass"))
    if outcome is None:
        event("still running at the deadline")
        return
    status, kind, content = outcome
    event(f"HTTP {status}")
    assert status in (200, 400, 404, 413, 429), (status, content[:300])
    if status != 200:
        error = json.loads(content)["error"]
        assert error["type"] and isinstance(error["message"], str) and len(error["message"]) < 1000
    elif kind.startswith("text/event-stream"):
        assert content.rstrip().endswith(b"data: [DONE]")
    else:
        assert json.loads(content)["object"] == "chat.completion"
    no_errors_logged(caplog)


# ---------------------------------------------------------------------------------------- slow and silent clients

LIMITS = ServerLimits(ping_interval=0.3, ping_timeout=0.3, send_timeout=0.6, request_timeout=0.6)
BOUND = max(LIMITS.ping_interval + LIMITS.ping_timeout, LIMITS.send_timeout) + SLACK


@pytest.fixture(scope="module")
def strict(loaded_text):
    with running_server(loaded_text, limits=LIMITS, sock=small_send_buffers()) as served:
        yield served


def misbehave_on_the_socket(strict, loaded, behaviour: str, reads: int) -> None:
    """A WebSocket client starts a run that would take minutes, reads `reads` messages, then does `behaviour`."""
    before = strict.host.runs_cancelled
    client = RawWebSocket(strict.port, receive_buffer=4096)
    settings = loaded.defaults.with_values(seed=2, max_denoising_steps=48, max_new_tokens=4096, top_k=10)
    client.send({"type": "hello", "id": 0, "protocol": PROTOCOL_VERSION})
    client.send({"type": "generate", "id": 1, "prompt": {"user": "long"}, "settings": settings.to_dict()})
    assert wait_until(lambda: strict.host.busy, SLACK)  # the run holds the engine
    for _ in range(reads):
        assert client.read_message() is not None
    if behaviour == "vanishes":
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset, no goodbye
        client.close()
    assert wait_until(lambda: strict.host.runs_cancelled == before + 1 and not strict.host.busy, BOUND)
    client.close()


def half_sent_request(strict, cut: int) -> None:
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 64\r\n\r\n".encode() + b'{"messages": []}')
    sock = socket.create_connection(("127.0.0.1", strict.port), timeout=LIMITS.request_timeout + SLACK)
    sock.sendall(request[:cut])
    data = b""
    while chunk := sock.recv(65536):  # recv raises at the deadline if the server never closes
        data += chunk
    sock.close()
    assert data == b"" or data.startswith((b"HTTP/1.1 408", b"HTTP/1.1 400", b"HTTP/1.1 401")), data[:200]


@fuzz(6, shrink=False)
@given(behaviour=st.sampled_from(["stops reading", "vanishes", "half-sends a request"]), reads=st.integers(0, 4),
       cut=st.integers(0, 180))
def test_fuzz_slow_silent_and_half_open_clients(strict, loaded_text, caplog, behaviour, reads, cut):
    caplog.set_level(logging.INFO)
    if behaviour == "half-sends a request":
        half_sent_request(strict, cut)
    else:
        misbehave_on_the_socket(strict, loaded_text, behaviour, reads)
    assert http_get(strict.port) == 200
    served_meanwhile(strict, loaded_text)
    assert wait_until(lambda: strict.open_connections() == 0, BOUND)
    no_errors_logged(caplog)

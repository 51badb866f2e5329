"""Security and limits: every bad connection or frame is refused with a clear error, and the server keeps serving."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import stat
import struct
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from app.cli import serve
from app.remote import client_common
from app.remote.client import RemoteGenerator
from app.remote.client_common import check_hello
from app.remote.errors import RemoteError
from app.remote.protocol import MAX_FRAME_BYTES, PROTOCOL_VERSION, decode_frame, encode_frame
from app.remote.tokens import TokenError, load_or_create_token, read_token, token_matches
from models.checkpoint.load_errors import LoadError
from models.inputs.validation import InputError
from models.work.events import GenerationResult
from models.work.prompts import Prompt
from tests.remote_helpers import TOKEN, running_server

PROMPT = Prompt(user="Hello")


@pytest.fixture(scope="module")
def served(loaded_text):
    with running_server(loaded_text) as served:
        yield served


def raw(served, token: str | None = TOKEN, hello: bool = True):
    """A bare WebSocket to the engine, to send what no well-behaved client would."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    socket = connect(
        f"ws://127.0.0.1:{served.port}/v1/engine",
        additional_headers=headers,
        compression=None,
        max_size=None,
        open_timeout=10,
    ).__enter__()
    if hello:
        assert say(socket, {"type": "hello", "id": 0, "protocol": PROTOCOL_VERSION})["type"] == "hello"
    return socket


def say(socket, header_or_bytes) -> dict:
    data = header_or_bytes if isinstance(header_or_bytes, (bytes, str)) else encode_frame(header_or_bytes)
    socket.send(data)
    return decode_frame(socket.recv(timeout=20))


def still_serves(served, loaded) -> None:
    """A new, well-behaved client gets a whole generation."""
    settings = loaded.defaults.with_values(seed=1, max_denoising_steps=2)
    with RemoteGenerator(served.url, TOKEN) as client:
        assert isinstance(list(client.generate(PROMPT, settings))[-1], GenerationResult)


def http_get(served, path: str, token: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{served.url}{path}", headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_no_token_is_refused_on_every_route(served, loaded_text):
    with pytest.raises(InvalidStatus) as refused:
        raw(served, token=None)
    assert refused.value.response.status_code == 401
    assert b"no bearer token" in refused.value.response.body
    for path in ("/v1/files/tokenizer.json", "/v1/models"):
        status, body = http_get(served, path, None)
        assert status == 401 and "no bearer token" in body["error"]["message"]
    still_serves(served, loaded_text)


def test_a_wrong_token_is_refused(served, loaded_text):
    with pytest.raises(RemoteError, match=r"refused the connection \(HTTP 401\): wrong token") as refused:
        RemoteGenerator(served.url, TOKEN + "x")
    assert refused.value.code == "unauthorized"
    status, body = http_get(served, "/v1/files/tokenizer.json", "nearly-" + TOKEN)
    assert status == 401 and "wrong token" in body["error"]["message"]
    assert http_get(served, "/v1/files/tokenizer.json", TOKEN)[0] == 200
    assert http_get(served, "/v1/files/model.safetensors", TOKEN)[0] == 404  # weights are never served
    still_serves(served, loaded_text)


def test_malformed_frames_are_refused_and_the_connection_keeps_working(served, loaded_text):
    socket = raw(served)
    header = json.dumps({"type": "info", "id": 1, "buffers": [4]}).encode()
    bad_frames = {
        "a text frame": "hello",
        "garbage": b"\x00\x01garbage",
        "bad magic": b"XXXX" + struct.pack("<I", 2) + b"{}",
        "a header longer than the frame": b"DDRP" + struct.pack("<I", 999) + b"{}",
        "a header that is not JSON": b"DDRP" + struct.pack("<I", 3) + b"{x}",
        "a header without a type": b"DDRP" + struct.pack("<I", 2) + b"{}",
        "buffers that do not add up": b"DDRP" + struct.pack("<I", len(header)) + header + b"12",
        "an array of object dtype": encode_frame({"type": "info", "id": 1}).replace(
            b"}", b',"x":{"$array":0,"dtype":"|O","shape":[1]}}'
        ),
        "a request id that is not a number": {"type": "info", "id": "one"},
    }
    for name, frame in bad_frames.items():
        reply = say(socket, frame)
        assert reply["type"] == "error" and reply["code"] == "malformed", name
        assert reply["message"], name
    assert say(socket, {"type": "info", "id": 2})["type"] == "info"
    socket.close()
    still_serves(served, loaded_text)


def test_oversized_frames_are_refused(served, loaded_text):
    socket = raw(served)
    reply = say(socket, b"DDRP" + b"\x00" * MAX_FRAME_BYTES)
    assert reply["code"] == "too_large" and str(MAX_FRAME_BYTES) in reply["message"]
    assert say(socket, {"type": "info", "id": 1})["type"] == "info"  # the connection still works
    with pytest.raises(ConnectionClosed) as closed:
        socket.send(b"\x00" * (2 * MAX_FRAME_BYTES + 1))  # beyond what the WebSocket layer reads at all
        socket.recv(timeout=20)
    # "message too big"; or, when the server cut the stream while this client was still sending its 32 MiB, the
    # close frame is lost in the reset and the connection simply ends.
    assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
    still_serves(served, loaded_text)


def test_unknown_commands_and_commands_before_hello_are_refused(served, loaded_text):
    socket = raw(served, hello=False)
    reply = say(socket, {"type": "info", "id": 1})
    assert reply["code"] == "no_hello" and "hello" in reply["message"]
    assert say(socket, {"type": "hello", "id": 0, "protocol": PROTOCOL_VERSION})["type"] == "hello"
    reply = say(socket, {"type": "frobnicate", "id": 2})
    assert reply["code"] == "unknown_command" and reply["id"] == 2
    assert "'frobnicate'" in reply["message"] and "generate" in reply["message"]
    assert say(socket, {"type": "info", "id": 3})["type"] == "info"
    socket.close()
    still_serves(served, loaded_text)


def test_a_wrong_protocol_version_is_refused_naming_both(served, loaded_text, monkeypatch):
    socket = raw(served, hello=False)
    reply = say(socket, {"type": "hello", "id": 0, "protocol": 99})
    assert reply["code"] == "version"
    assert (
        "client speaks version 99" in reply["message"]
        and f"server speaks version {PROTOCOL_VERSION}" in (reply["message"])
    )
    with pytest.raises(ConnectionClosed):
        socket.recv(timeout=20)
    # A client of another version is told the same, and refuses a server of another version itself.
    newer, ours = PROTOCOL_VERSION + 1, PROTOCOL_VERSION
    monkeypatch.setattr(client_common, "PROTOCOL_VERSION", newer)
    with pytest.raises(RemoteError, match=f"client speaks version {newer}, this server speaks version {ours}"):
        RemoteGenerator(served.url, TOKEN)
    with pytest.raises(RemoteError, match=f"server speaks version {ours}, this client speaks version {newer}"):
        check_hello({"type": "hello", "protocol": ours, "info": {}}, "here")
    monkeypatch.undo()
    still_serves(served, loaded_text)


def test_invalid_commands_are_refused_with_the_reason(served, loaded_text):
    socket = raw(served)
    reply = say(socket, {"type": "generate", "id": 5, "prompt": {"user": "hi"}, "settings": {"t_max": -1}})
    assert reply["code"] == "settings" and "t_max" in reply["message"]
    reply = say(socket, {"type": "generate", "id": 6, "prompt": {"user": "hi"}, "image_budget": 99})
    assert reply["code"] == "invalid" and "image_budget" in reply["message"]
    reply = say(socket, {"type": "generate", "id": 7, "prompt": {"user": "hi", "images": [b"not a png"]}})
    assert reply["code"] == "image" and "not a readable image" in reply["message"]
    reply = say(socket, {"type": "generate", "id": 8, "prompt": {"user": "bell \x07"}})
    assert reply["code"] == "input" and "control character" in reply["message"]
    generation = {"prompt": {"user": "hi"}, "token_ids": np.arange(32, dtype=np.int64), "settings": {}}
    reply = say(socket, {"type": "rewrite", "id": 9, "generation": generation, "span": [4, 40]})
    assert reply["code"] == "invalid" and "span 4:40 is outside the generated text (0:32)" in reply["message"]
    generation["token_ids"] = np.arange(20, dtype=np.int64)
    reply = say(socket, {"type": "fill_around", "id": 10, "generation": generation, "locks": [1]})
    assert reply["code"] == "invalid" and "whole canvases of 32" in reply["message"]
    generation["token_ids"] = np.full(32, 5000, dtype=np.int64)
    reply = say(socket, {"type": "fill_around", "id": 11, "generation": generation, "locks": [1]})
    assert reply["code"] == "invalid" and "vocabulary" in reply["message"]
    assert say(socket, {"type": "info", "id": 12})["type"] == "info"
    socket.close()
    still_serves(served, loaded_text)


def test_a_prompt_over_the_token_cap_is_refused_as_locally(served, loaded_text, monkeypatch):
    """Found only once the engine tokenizes the prompt (on the server's worker): still the engine's own error."""
    monkeypatch.setenv("DIFFUSION_DESK_MAX_PROMPT_TOKENS", "5")
    with RemoteGenerator(served.url, TOKEN) as client:
        run = client.generate(Prompt(user="a prompt of more than five tokens"), loaded_text.defaults)
        with pytest.raises(InputError, match="the prompt is too long: .* tokens, the limit is 5"):
            list(run)
        monkeypatch.delenv("DIFFUSION_DESK_MAX_PROMPT_TOKENS")
        settings = loaded_text.defaults.with_values(seed=1, max_denoising_steps=2)
        assert isinstance(list(client.generate(PROMPT, settings))[-1], GenerationResult)


def test_a_client_that_drops_mid_run_cancels_it(served, loaded_text):
    host = served.host
    before = host.runs_cancelled
    socket = raw(served)
    settings = loaded_text.defaults.with_values(seed=2, max_denoising_steps=48, max_new_tokens=1024).to_dict()
    socket.send(encode_frame({"type": "generate", "id": 1, "prompt": {"user": "long"}, "settings": settings}))
    assert decode_frame(socket.recv(timeout=20))["type"] == "started"
    assert decode_frame(socket.recv(timeout=20))["type"] == "event"  # the run is under way
    socket.socket.shutdown(2)  # gone without a goodbye, as when a laptop's network drops
    socket.socket.close()
    deadline = time.monotonic() + 120  # a bound on a hang, not on speed
    while (host.runs_cancelled == before or host.busy) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert host.runs_cancelled == before + 1 and not host.busy  # 32 canvases x 48 steps would take minutes
    still_serves(served, loaded_text)


def test_model_switch_needs_the_operators_permission(served, loaded_text, small_canvas_checkpoint):
    with RemoteGenerator(served.url, TOKEN) as client:
        with pytest.raises(RemoteError, match="--allow-model-switch") as refused:
            client.load_model(str(small_canvas_checkpoint))
        assert refused.value.code == "not_allowed" and client.model_info().canvas_length == 32
    with running_server(loaded_text, allow_model_switch=True) as open_server:
        with RemoteGenerator(open_server.url, TOKEN) as client:
            with pytest.raises(LoadError, match="not in the server's Hugging Face cache"):
                client.load_model("nobody/not-a-cached-model")
            with pytest.raises(LoadError, match="no config.json"):
                client.load_model(str(small_canvas_checkpoint.parent))
            info = client.load_model(str(small_canvas_checkpoint))
            assert info.canvas_length == 16 and client.remote_model().canvas_length == 16
            settings = info.defaults.with_values(seed=0, max_denoising_steps=2)
            result = list(client.generate(PROMPT, settings))[-1]
            assert len(result.token_ids) % 16 == 0


def self_signed(tmp_path):
    """A certificate for 127.0.0.1 made here with the `cryptography` package."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(certfile), str(keyfile)


def test_tls_with_a_certificate(loaded_text, tmp_path):
    certfile, keyfile = self_signed(tmp_path)
    with running_server(loaded_text, certfile=certfile, keyfile=keyfile) as tls:
        assert tls.url.startswith("https://")
        with RemoteGenerator(tls.url, TOKEN, cafile=certfile, cache_dir=tmp_path / "cache") as client:
            settings = loaded_text.defaults.with_values(seed=3, max_denoising_steps=2)
            assert isinstance(list(client.generate(PROMPT, settings))[-1], GenerationResult)
            assert client.tokenizer.decode([5]) == loaded_text.tokenizer.decode([5])  # files over https too
        with pytest.raises(RemoteError, match="certificate verify failed"):
            RemoteGenerator(tls.url, TOKEN)  # a certificate nobody vouched for is not trusted
        with pytest.raises(RemoteError, match="cannot connect"):
            RemoteGenerator(tls.url.replace("https", "http"), TOKEN)


def test_serve_refuses_an_open_address_without_a_token_file(capsys):
    assert serve.main(["--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing to listen on 0.0.0.0 without --token-file" in err
    assert serve.main(["--certfile", "c.pem"]) == 2
    assert "--certfile and --keyfile go together" in capsys.readouterr().err
    assert serve.is_loopback("127.0.0.1") and serve.is_loopback("::1") and serve.is_loopback("localhost")
    assert not serve.is_loopback("0.0.0.0") and not serve.is_loopback("192.168.1.4")


def test_the_token_file_is_private_and_made_once(tmp_path):
    path = tmp_path / "conf" / "token"
    token, created = load_or_create_token(path)
    assert created and len(token) >= 40 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == (token, False) and read_token(path) == token
    assert [p.name for p in path.parent.iterdir()] == ["token"]  # no temporary file left behind
    os.chmod(path, 0o644)
    with pytest.raises(TokenError, match="can be read by other users"):
        load_or_create_token(path)
    assert token_matches(token, token) and not token_matches(token[:-1] + "?", token)
    assert not token_matches(None, token)


def test_two_servers_making_the_token_at_once_agree(tmp_path):
    path = tmp_path / "token"
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_or_create_token(path))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({token for token, _ in results}) == 1 and sum(created for _, created in results) == 1

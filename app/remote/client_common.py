"""What the sync and the asyncio clients share: addresses, TLS, the model info, commands and replies."""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.remote import address
from app.remote.errors import RemoteError, exception_for
from app.remote.messages import generation_message, prompt_message
from app.remote.protocol import PROTOCOL_VERSION, ProtocolError, decode_event, version_mismatch
from app.remote.tokens import read_token
from models.engine.generator import Generation
from models.work.events import Event
from models.work.prompts import Prompt
from models.work.settings import SamplerSettings, SettingsError

ENGINE_PATH = address.ENGINE_PATH


@dataclass(frozen=True)
class ModelInfo:
    """The served model, as the server describes it (the `info` object of docs/remote-protocol.md)."""

    address: str  # host:port, as the client reached it
    protocol: int
    server: str
    name: str
    source: str
    device: str
    dtype: str
    memory: str
    canvas_length: int
    vocab_size: int
    defaults: SamplerSettings
    image_budgets: tuple[int, ...]
    allow_model_switch: bool
    max_frame_bytes: int
    busy: bool
    files: tuple[dict[str, Any], ...]

    def status_text(self) -> str:
        """The status bar's words for this connection: `remote: host · device · dtype · memory`."""
        return " · ".join(part for part in (f"remote: {self.address}", self.device, self.dtype, self.memory) if part)

    @classmethod
    def from_message(cls, info: Any, address: str) -> ModelInfo:
        try:
            values = {
                name: info[name]
                for name in (
                    "protocol",
                    "server",
                    "name",
                    "source",
                    "device",
                    "dtype",
                    "memory",
                    "canvas_length",
                    "vocab_size",
                    "allow_model_switch",
                    "max_frame_bytes",
                    "busy",
                )
            }
            ok = (
                isinstance(values["canvas_length"], int)
                and values["canvas_length"] > 0
                and isinstance(values["vocab_size"], int)
                and values["vocab_size"] > 0
            )
            if not ok:
                raise ValueError("canvas_length and vocab_size must be positive whole numbers")
            return cls(
                address=address,
                defaults=SamplerSettings.from_dict(info["defaults"]),
                image_budgets=tuple(int(b) for b in info["image_budgets"]),
                files=tuple(dict(entry) for entry in info["files"]),
                **values,
            )
        except (KeyError, TypeError, ValueError, SettingsError) as error:
            raise RemoteError("malformed", f"the server's model info is not understood ({error})") from error


@dataclass
class RemoteModel:
    """A stand-in for `models.checkpoint.loading.LoadedModel` where the window needs one: the name, shape and
    tokenizer."""

    info: ModelInfo
    processor: Any

    name = property(lambda self: self.info.name)
    source = property(lambda self: self.info.source)
    canvas_length = property(lambda self: self.info.canvas_length)
    vocab_size = property(lambda self: self.info.vocab_size)
    defaults = property(lambda self: self.info.defaults)
    device = property(lambda self: self.info.device)
    dtype = property(lambda self: self.info.dtype)

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)


def endpoints(url: str) -> tuple[str, str, str]:
    """(WebSocket URL, HTTP base URL, host:port) of a server address; RemoteError("address") if it is not one."""
    try:
        return address.endpoints(url)
    except address.AddressError as error:
        raise RemoteError("address", str(error)) from error


def ssl_context(url: str, cafile: str | Path | None = None) -> ssl.SSLContext | None:
    """A verifying TLS context for https/wss addresses (`cafile` trusts a self-signed certificate); None otherwise."""
    if not endpoints(url)[0].startswith("wss://"):
        return None
    if cafile:
        from models.inputs.safe_files import UserFileError, check_user_file

        try:  # before ssl reads it: a FIFO would block it forever
            check_user_file(cafile, address.MAX_CA_FILE_BYTES, "certificate")
        except UserFileError as error:
            raise RemoteError("tls", f"cannot use the certificate file: {error}") from error
    try:
        return ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (OSError, ssl.SSLError) as error:
        raise RemoteError("tls", f"cannot use the certificate file {cafile}: {error}") from error


def token_from(token: str | None, token_file: str | Path | None) -> str:
    if token:
        return token
    if token_file is None:
        raise RemoteError("unauthorized", "a token or token file is needed to connect to a server")
    try:
        return read_token(token_file)
    except ValueError as error:
        raise RemoteError("unauthorized", str(error)) from error


def hello_header() -> dict[str, Any]:
    return {"type": "hello", "id": 0, "protocol": PROTOCOL_VERSION, "client": "diffusion-desk"}


def check_hello(header: dict[str, Any], address: str) -> ModelInfo:
    """The model info of the server's hello; RemoteError naming both versions if they differ."""
    if header.get("type") == "error":
        raise exception_for(str(header.get("code")), str(header.get("message")))
    if header.get("type") != "hello":
        raise RemoteError("malformed", f"the server answered hello with {header.get('type')!r}")
    if header.get("protocol") != PROTOCOL_VERSION:
        raise RemoteError("version", version_mismatch(header.get("protocol"), PROTOCOL_VERSION, we_are="client"))
    return ModelInfo.from_message(header.get("info"), address)


def generate_command(prompt: Prompt, settings: SamplerSettings, image_budget: int | None) -> dict[str, Any]:
    return {
        "type": "generate",
        "prompt": prompt_message(prompt),
        "settings": settings.to_dict(),
        "image_budget": image_budget,
    }


def rewrite_command(
    generation: Generation, span: tuple[int, int], locks: Iterable[int], settings: SamplerSettings | None
) -> dict[str, Any]:
    return {"type": "rewrite", "span": [int(span[0]), int(span[1])], **_edit(generation, locks, settings)}


def fill_around_command(
    generation: Generation, locks: Iterable[int], settings: SamplerSettings | None
) -> dict[str, Any]:
    return {"type": "fill_around", **_edit(generation, locks, settings)}


def from_text_command(prompt: Prompt, text: str, settings: SamplerSettings) -> dict[str, Any]:
    return {"type": "from_text", "prompt": prompt_message(prompt), "text": text, "settings": settings.to_dict()}


def _edit(generation: Generation, locks: Iterable[int], settings: SamplerSettings | None) -> dict[str, Any]:
    return {
        "generation": generation_message(generation.prompt, generation.token_ids, generation.settings),
        "locks": sorted(int(i) for i in locks),
        "settings": settings.to_dict() if settings else None,
    }


def generation_from_reply(header: dict[str, Any], prompt: Prompt) -> Generation:
    ids, settings = header.get("token_ids"), header.get("settings")
    try:
        if not hasattr(ids, "ndim") or ids.ndim != 1 or ids.dtype.str != "<i8":
            raise ValueError("token_ids must be a one-dimensional int64 array")
        return Generation(prompt=prompt, token_ids=ids, settings=SamplerSettings.from_dict(settings))
    except (TypeError, ValueError, SettingsError) as error:
        raise RemoteError("malformed", f"the server's from_text reply is not understood ({error})") from error


def run_reply(header: dict[str, Any], canvas_length: int) -> Event | None:
    """The event a run's frame carries, None for `started`/`queued`; raises for `error`."""
    kind = header.get("type")
    if kind == "event":
        try:
            return decode_event(header, canvas_length)
        except ProtocolError as error:
            raise RemoteError("malformed", str(error)) from error
    if kind in ("started", "queued"):
        return None
    if kind == "error":
        raise exception_for(str(header.get("code")), str(header.get("message")))
    raise RemoteError("malformed", f"unexpected {kind!r} message during a run")


def reply_or_raise(header: dict[str, Any], expected: str) -> dict[str, Any]:
    if header.get("type") == "error":
        raise exception_for(str(header.get("code")), str(header.get("message")))
    if header.get("type") != expected:
        raise RemoteError("malformed", f"expected {expected!r} from the server, got {header.get('type')!r}")
    return header


def refused_message(status: int, body: bytes) -> RemoteError:
    """The error of a refused WebSocket handshake (401 carries the server's reason as JSON)."""
    import json

    try:
        message = json.loads(body.decode("utf-8"))["error"]["message"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        message = body.decode("utf-8", "replace")[:200] or "no reason given"
    code = "unauthorized" if status == 401 else "refused"
    return RemoteError(code, f"the server refused the connection (HTTP {status}): {message}")


def closed_message(code: int | None, reason: str) -> RemoteError:
    if code == 1009:
        return RemoteError("too_large", "the connection was closed: a message was over the size limit")
    detail = f" (code {code}{': ' + reason if reason else ''})" if code else ""
    how = "closed" if code in (1000, 1001) else "lost"
    return RemoteError("connection", f"the connection to the server was {how}{detail}")

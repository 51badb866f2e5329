"""The ASGI app (Starlette): the engine's WebSocket, tokenizer files, the OpenAI-compatible routes; all behind a token.

Routes (docs/remote-protocol.md): `GET /v1/engine` (WebSocket), `GET /v1/files/{name}`, `POST /v1/chat/completions`,
`GET /v1/models`. Every HTTP request and WebSocket handshake must carry `Authorization: Bearer <token>`; anything else
is answered 401 before it reaches a route.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from app.remote import messages
from app.remote.engine_host import EngineHost
from app.remote.errors import REQUEST_ERRORS, code_of
from app.remote.openai_api import openai_routes
from app.remote.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    ProtocolError,
    decode_frame,
    encode_event,
    encode_frame,
    error_header,
    version_mismatch,
)
from app.remote.tokens import bearer, token_matches
from models.engine.generator import Generation
from models.inputs.json_fields import shown
from models.work.events import Event, GenerationResult

log = logging.getLogger("diffusion_desk.remote")
CLOSE_VERSION = 4002  # WebSocket close code after a protocol version mismatch
RUN_COMMANDS = ("generate", "rewrite", "fill_around")


class TokenAuth:
    """Pure ASGI middleware: a request or handshake without the right bearer token gets 401 and goes no further."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            presented = bearer(header)
            if not token_matches(presented, self.token):
                why = (
                    "no bearer token: send 'Authorization: Bearer <token>' with the token from the server's token file"
                    if presented is None
                    else "wrong token: it does not match the server's token file"
                )
                response = JSONResponse(
                    {"error": {"message": why, "type": "unauthorized", "code": "unauthorized"}},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                if scope["type"] == "http":
                    await response(scope, receive, send)
                else:
                    await WebSocket(scope, receive, send).send_denial_response(response)
                return
        await self.app(scope, receive, send)


def build_app(host: EngineHost, token: str) -> Starlette:
    async def engine_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await Connection(websocket, host).serve()

    async def tokenizer_file(request: Request) -> Response:
        name = request.path_params["name"]
        entry = next((e for e in host.files if e["name"] == name), None)
        if entry is None:
            return JSONResponse(
                {"error": {"message": f"no servable file named {name!r}", "code": "not_found"}}, status_code=404
            )
        return FileResponse(Path(host.loaded.path) / name, headers={"X-Content-SHA256": entry["sha256"]})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        host.close()

    routes = [
        WebSocketRoute("/v1/engine", engine_socket),
        Route("/v1/files/{name}", tokenizer_file),
        *openai_routes(host),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, max_body_size=MAX_FRAME_BYTES)
    app.add_middleware(TokenAuth, token=token)
    return app


@dataclass
class _Run:
    request_id: int
    cancel: threading.Event
    task: asyncio.Task | None = None
    result_sent: bool = False  # the client has its GenerationResult; the task is only winding down


class Connection:
    """One client's WebSocket: hello first, then commands; at most one run at a time on it."""

    def __init__(self, websocket: WebSocket, host: EngineHost) -> None:
        self.websocket, self.host = websocket, host
        self.greeted = False
        self.run: _Run | None = None
        self._send_lock = asyncio.Lock()
        self._handlers = {
            "hello": self._hello,
            "info": self._info,
            "generate": self._start_run,
            "rewrite": self._start_run,
            "fill_around": self._start_run,
            "from_text": self._from_text,
            "cancel": self._cancel,
            "load_model": self._load_model,
        }

    async def serve(self) -> None:
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if not await self._guarded(message.get("bytes"), message.get("text")):
                    return
        except (WebSocketDisconnect, WebSocketDisconnected, OSError):  # OSError: uvicorn's ClientDisconnected
            return
        finally:
            run = self.run
            if run is not None:  # the client dropped mid-run: cancel it
                run.cancel.set()
                if run.task is not None:
                    run.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await run.task

    async def _guarded(self, data: bytes | None, text: str | None) -> bool:
        """`_on_frame`, with any failure it did not foresee answered by one error frame: the connection stays."""
        try:
            return await self._on_frame(data, text)
        except (WebSocketDisconnect, WebSocketDisconnected, OSError, asyncio.CancelledError):
            raise
        except Exception as error:  # noqa: BLE001 - a bug: logged, answered, and the connection keeps working
            log.exception("a frame of %d bytes could not be handled", len(data or text or ""))
            await self._error("internal", f"the server could not handle this frame: {type(error).__name__}")
            return True

    async def _on_frame(self, data: bytes | None, text: str | None) -> bool:
        """Handle one frame; False ends the connection."""
        if data is None:
            await self._error(
                "malformed",
                "frames must be binary protocol frames (docs/remote-protocol.md), "
                f"got a text frame of {len(text or '')} characters",
            )
            return True
        if len(data) > MAX_FRAME_BYTES:
            await self._error(
                "too_large", f"frame of {len(data)} bytes is over the server's limit of {MAX_FRAME_BYTES} bytes"
            )
            return True
        try:
            header = decode_frame(data)
        except ProtocolError as error:
            await self._error("malformed", str(error))
            return True
        kind, request_id = header["type"], header.get("id")
        if request_id is not None and (not isinstance(request_id, int) or isinstance(request_id, bool)):
            await self._error("malformed", f"request id must be a whole number, got {shown(request_id)}")
            return True
        handler = self._handlers.get(kind)
        if handler is None:
            await self._error(
                "unknown_command",
                f"unknown command {shown(kind)}; this server knows {', '.join(self._handlers)}",
                request_id,
            )
            return True
        if not self.greeted and kind != "hello":
            await self._error("no_hello", "send hello (with the protocol version) before any command", request_id)
            return True
        return await handler(kind, request_id, header)

    async def _hello(self, kind: str, request_id: int | None, header: dict[str, Any]) -> bool:
        version = header.get("protocol")
        if version != PROTOCOL_VERSION:
            await self._error("version", version_mismatch(version), request_id)
            await self.websocket.close(CLOSE_VERSION, "protocol version mismatch")
            return False
        self.greeted = True
        await self._send({"type": "hello", "id": request_id, "protocol": PROTOCOL_VERSION, "info": self.host.info()})
        return True

    async def _info(self, kind: str, request_id: int | None, header: dict[str, Any]) -> bool:
        await self._send({"type": "info", "id": request_id, "info": self.host.info()})
        return True

    async def _start_run(self, kind: str, request_id: int | None, header: dict[str, Any]) -> bool:
        if request_id is None:
            await self._error("malformed", f"{kind} needs a request id")
            return True
        if self.run is not None and self.run.result_sent and self.run.task is not None:
            # The client read the result and asked again before the old run's task had quite ended.
            with contextlib.suppress(Exception):
                await self.run.task
        if self.run is not None:
            await self._error(
                "busy",
                f"this connection already runs request {self.run.request_id}; cancel it or wait for its result",
                request_id,
            )
            return True
        cancel = threading.Event()
        try:
            events = await asyncio.to_thread(self._events, kind, header, cancel)
        except REQUEST_ERRORS as error:
            await self._error(code_of(error), str(error), request_id)
            return True
        self.run = _Run(request_id, cancel)
        self.run.task = asyncio.create_task(self._stream(self.run, events))
        return True

    def _events(self, kind: str, header: dict[str, Any], cancel: threading.Event) -> Iterator[Event]:
        """Validate a run command (one function per command, in messages.py) and make its event stream."""
        generator, limits = self.host.generator, self.host.limits
        if kind == "generate":
            request = messages.validate_generate(header, limits)
            return generator.generate(request.prompt, request.settings, cancel, image_budget=request.image_budget)
        validate = messages.validate_rewrite if kind == "rewrite" else messages.validate_fill_around
        edit = validate(header, limits)
        generation = Generation(edit.prompt, edit.token_ids, edit.generation_settings)
        if kind == "rewrite":
            return generator.rewrite(generation, edit.span, edit.locks, edit.settings, cancel)
        return generator.fill_around(generation, edit.locks, edit.settings, cancel)

    async def _stream(self, run: _Run, events: Iterator[Event]) -> None:
        async def queued(position: int) -> None:
            await self._send({"type": "queued", "id": run.request_id, "position": position})

        try:
            await self._send({"type": "started", "id": run.request_id})
            frames = self.host.stream(events, run.cancel, partial(_encoded, run.request_id), queued)
            async with contextlib.aclosing(frames):
                async for frame, is_result in frames:
                    await self._send_bytes(frame)
                    run.result_sent = is_result
        except REQUEST_ERRORS as error:  # busy, or found out only as the engine prepares (a prompt too long)
            await self._error(code_of(error), str(error), run.request_id)
        except (WebSocketDisconnect, WebSocketDisconnected, OSError):
            pass  # the client went away; leaving the stream cancelled the run
        except Exception as error:  # noqa: BLE001 - the engine failed: tell the client, keep serving
            log.exception("run %s failed", run.request_id)
            with contextlib.suppress(Exception):
                await self._error("internal", f"the engine failed: {type(error).__name__}: {error}", run.request_id)
        finally:
            if self.run is run:
                self.run = None

    async def _cancel(self, kind: str, request_id: int | None, header: dict[str, Any]) -> bool:
        if self.run is not None and self.run.request_id == request_id:
            self.run.cancel.set()  # the engine stops at its next step and sends a cancelled result
        return True  # a run that already ended needs nothing

    async def _from_text(self, kind: str, request_id: int | None, header: dict[str, Any]) -> bool:
        try:
            request = await asyncio.to_thread(messages.validate_from_text, header, self.host.limits)
            generation = await self.host.call(
                self.host.generator.from_text, request.prompt, request.text, request.settings
            )
            if len(generation.token_ids) > messages.MAX_TOKENS:
                raise messages.RequestError(
                    f"the text is {len(generation.token_ids)} tokens laid into canvases; at most {messages.MAX_TOKENS}"
                )
        except REQUEST_ERRORS as error:
            await self._error(code_of(error), str(error), request_id)
            return True
        await self._send(
            {
                "type": "generation",
                "id": request_id,
                "token_ids": generation.token_ids,
                "settings": generation.settings.to_dict(),
            }
        )
        return True

    async def _load_model(self, kind: str, request_id: int | None, header: dict[str, Any]) -> bool:
        try:
            source = messages.validate_load_model(header)
            info = await self.host.load_model(source)
        except REQUEST_ERRORS as error:
            await self._error(code_of(error), str(error), request_id)
            return True
        await self._send({"type": "loaded", "id": request_id, "info": info})
        return True

    async def _error(self, code: str, message: str, request_id: int | None = None) -> None:
        log.info("refused (%s): %s", code, message)
        await self._send(error_header(code, message, request_id))

    async def _send(self, header: dict[str, Any]) -> None:
        await self._send_bytes(encode_frame(header))

    async def _send_bytes(self, frame: bytes) -> None:
        async with self._send_lock:
            await self.websocket.send_bytes(frame)


def _encoded(request_id: int, event: Event) -> tuple[bytes, bool]:
    """An event's frame (made on the engine's worker thread), and whether it is the run's result."""
    return encode_event(request_id, event), isinstance(event, GenerationResult)

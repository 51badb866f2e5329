"""The asyncio client, for the window (qasync runs it on Qt's event loop): runs are async iterators of engine events.

    remote = await AsyncRemoteGenerator.connect(url, token_file=path)
    model = await remote.remote_model()          # name, canvas length, defaults, tokenizer (files fetched once)
    run = await remote.generate(prompt, settings, cancel)
    async for event in run: ...                  # StepSnapshot, CanvasCommitted, then GenerationResult
    await run.cancel()                           # or set `cancel`: the server stops at its next step

One reader task takes every frame and hands it to the run or request it belongs to, so a connection that drops while
idle is noticed too (`closed` resolves with the RemoteError saying why). Starting a run while another is still going
cancels the older one first and drops its late events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from app.remote.client_common import (
    ModelInfo,
    RemoteModel,
    check_hello,
    closed_message,
    endpoints,
    fill_around_command,
    from_text_command,
    generate_command,
    generation_from_reply,
    hello_header,
    refused_message,
    reply_or_raise,
    rewrite_command,
    run_reply,
    ssl_context,
    token_from,
)
from app.remote.errors import RemoteError
from app.remote.files import fetch_files, load_remote_processor
from app.remote.protocol import MAX_FRAME_BYTES, ProtocolError, decode_frame, encode_frame
from models.engine.generator import Generation
from models.engine.sampling_loop import CancelToken
from models.work.events import Event, GenerationResult
from models.work.prompts import Prompt
from models.work.settings import SamplerSettings

POLL_SECONDS = 0.05  # how often a run being read checks its cancel token


class AsyncRemoteGenerator:
    def __init__(self, url: str, socket: ClientConnection, token: str, ssl: Any, cache_dir: Path | None) -> None:
        self.url = url
        _, self._http_base, self.address = endpoints(url)
        self._socket, self._token, self._ssl, self._cache_dir = socket, token, ssl, cache_dir
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future] = {}
        self._runs: dict[int, AsyncRun] = {}
        self._active: AsyncRun | None = None
        self._processor: Any = None
        self.info: ModelInfo | None = None
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self._reader: asyncio.Task | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        token_file: str | Path | None = None,
        cafile: str | Path | None = None,
        cache_dir: Path | None = None,
        timeout: float = 30.0,
    ) -> AsyncRemoteGenerator:
        ws_url, _, address = endpoints(url)
        secret = token_from(token, token_file)
        context = ssl_context(url, cafile)
        try:
            socket = await connect(
                ws_url,
                ssl=context,
                additional_headers={"Authorization": f"Bearer {secret}"},
                compression=None,
                max_size=MAX_FRAME_BYTES,
                open_timeout=timeout,
                close_timeout=2,
            )
        except InvalidStatus as error:
            raise refused_message(error.response.status_code, error.response.body or b"") from error
        except (OSError, InvalidURI, InvalidHandshake, TimeoutError) as error:
            raise RemoteError("connection", f"cannot connect to {url}: {error}") from error
        client = cls(url, socket, secret, context, cache_dir)
        try:
            await socket.send(encode_frame(hello_header()))
            client.info = check_hello(decode_frame(await asyncio.wait_for(socket.recv(), timeout)), address)
        except ProtocolError as error:
            await socket.close()
            raise RemoteError("malformed", f"the server sent a bad frame: {error}") from error
        except ConnectionClosed as error:
            raise closed_message(
                error.rcvd.code if error.rcvd else None, error.rcvd.reason if error.rcvd else ""
            ) from error
        except BaseException:
            await socket.close()
            raise
        client._reader = asyncio.create_task(client._read())
        return client

    async def close(self) -> None:
        await self._socket.close()
        if self._reader is not None:
            await self._reader

    # ------------------------------------------------------------------------------------------ the Generator API

    async def generate(
        self,
        prompt: Prompt,
        settings: SamplerSettings,
        cancel: CancelToken | None = None,
        image_budget: int | None = None,
    ) -> AsyncRun:
        return await self._start(generate_command(prompt, settings, image_budget), cancel)

    async def rewrite(
        self,
        generation: Generation,
        span: tuple[int, int],
        locks: Iterable[int] = (),
        settings: SamplerSettings | None = None,
        cancel: CancelToken | None = None,
    ) -> AsyncRun:
        """As `Generator.rewrite`: an impossible edit raises EditError here, before any event."""
        return await self._start(rewrite_command(generation, span, locks, settings), cancel)

    async def fill_around(
        self,
        generation: Generation,
        locks: Iterable[int],
        settings: SamplerSettings | None = None,
        cancel: CancelToken | None = None,
    ) -> AsyncRun:
        return await self._start(fill_around_command(generation, locks, settings), cancel)

    async def from_text(self, prompt: Prompt, text: str, settings: SamplerSettings) -> Generation:
        header = await self._request(from_text_command(prompt, text, settings), "generation")
        return generation_from_reply(header, prompt)

    # ------------------------------------------------------------------------------------------ the rest

    async def model_info(self) -> ModelInfo:
        header = await self._request({"type": "info"}, "info")
        self.info = ModelInfo.from_message(header.get("info"), self.address)
        return self.info

    async def load_model(self, source: str) -> ModelInfo:
        header = await self._request({"type": "load_model", "source": source}, "loaded")
        self.info = ModelInfo.from_message(header.get("info"), self.address)
        self._processor = None
        return self.info

    async def remote_model(self) -> RemoteModel:
        """The model's stand-in for the window; its tokenizer files are fetched (off the loop) the first time."""
        if self._processor is None:
            folder = await asyncio.to_thread(
                fetch_files, self._http_base, self._token, list(self.info.files), self._cache_dir, self._ssl
            )
            self._processor = await asyncio.to_thread(load_remote_processor, folder)
        return RemoteModel(self.info, self._processor)

    # ------------------------------------------------------------------------------------------ plumbing

    async def _start(self, command: dict[str, Any], cancel: CancelToken | None) -> AsyncRun:
        if self._active is not None:
            await self._active.aclose()
        request_id = next(self._ids)
        run = AsyncRun(self, request_id, cancel)
        self._runs[request_id] = run
        try:
            await self._send({**command, "id": request_id})
            reply_or_raise(await run._next_header(), "started")
        except BaseException:
            self._runs.pop(request_id, None)
            raise
        self._active = run
        return run

    async def _request(self, command: dict[str, Any], expected: str) -> dict[str, Any]:
        request_id = next(self._ids)
        reply = asyncio.get_running_loop().create_future()
        self._replies[request_id] = reply
        try:
            await self._send({**command, "id": request_id})
            return reply_or_raise(await reply, expected)
        finally:
            self._replies.pop(request_id, None)

    async def _send(self, header: dict[str, Any]) -> None:
        if self.closed.done():
            raise self.closed.result()
        try:
            await self._socket.send(encode_frame(header))
        except ConnectionClosed as error:
            raise closed_message(
                error.rcvd.code if error.rcvd else None, error.rcvd.reason if error.rcvd else ""
            ) from error

    async def _read(self) -> None:
        """Hand every frame to its run or request until the connection ends; then fail whatever still waits."""
        reason: RemoteError
        try:
            async for data in self._socket:
                header = decode_frame(data) if isinstance(data, bytes) else {"type": "text"}
                request_id = header.get("id")
                if request_id in self._runs and header.get("type") == "queued":
                    self._runs[request_id]._on_queued(int(header.get("position") or 0))
                elif request_id in self._runs:
                    self._runs[request_id]._queue.put_nowait(header)
                elif request_id in self._replies and not self._replies[request_id].done():
                    self._replies[request_id].set_result(header)
            reason = closed_message(self._socket.close_code, self._socket.close_reason or "")
        except ConnectionClosed as error:
            reason = closed_message(error.rcvd.code if error.rcvd else None, error.rcvd.reason if error.rcvd else "")
        except ProtocolError as error:
            reason = RemoteError("malformed", f"the server sent a bad frame: {error}")
            await self._socket.close()
        for reply in self._replies.values():
            if not reply.done():
                reply.set_exception(reason)
        for run in self._runs.values():
            run._queue.put_nowait(reason)
        if not self.closed.done():
            self.closed.set_result(reason)


class AsyncRun:
    """The events of one run: `async for event in run`; `await run.cancel()` asks the server to stop it."""

    def __init__(self, client: AsyncRemoteGenerator, request_id: int, cancel: CancelToken | None) -> None:
        self.client, self.request_id, self.token = client, request_id, cancel
        self._queue: asyncio.Queue = asyncio.Queue()
        self.done = False
        self._cancel_sent = False
        self.queued_position = 0  # > 0 while the run waits behind other clients' runs
        self.on_queued: Callable[[int], None] | None = None  # called with the position when the server queues it

    def __aiter__(self) -> AsyncRun:
        return self

    async def __anext__(self) -> Event:
        while not self.done:
            header = await self._next_header()
            try:
                event = run_reply(header, self.client.info.canvas_length)
            except BaseException:
                self._finish()
                raise
            if event is not None:
                self.queued_position = 0
                if isinstance(event, GenerationResult):
                    self._finish()
                return event
        raise StopAsyncIteration

    async def cancel(self) -> None:
        if not self._cancel_sent and not self.done:
            self._cancel_sent = True
            with contextlib.suppress(RemoteError):  # a lost connection ends the run anyway
                await self.client._send({"type": "cancel", "id": self.request_id})

    async def aclose(self) -> None:
        """Cancel the run if it is still going and read it to its end, dropping its events."""
        if self.done:
            return
        await self.cancel()
        with contextlib.suppress(RemoteError, ValueError):
            async for _ in self:
                pass

    def _on_queued(self, position: int) -> None:
        self.queued_position = position
        if self.on_queued is not None:
            self.on_queued(position)

    async def _next_header(self) -> dict[str, Any]:
        while True:
            if self.token is not None and self.token.is_set():
                await self.cancel()
            try:
                item = await asyncio.wait_for(self._queue.get(), POLL_SECONDS if self.token is not None else None)
            except asyncio.TimeoutError:
                continue
            if isinstance(item, RemoteError):
                self._finish()
                raise item
            return item

    def _finish(self) -> None:
        self.done = True
        self.client._runs.pop(self.request_id, None)
        if self.client._active is self:
            self.client._active = None

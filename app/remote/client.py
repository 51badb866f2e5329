"""The sync client: `RemoteGenerator` has the methods of `models.engine.generator.Generator` and yields the same events.

Used by the command line (`generate --server URL --token-file F`). One run at a time per connection, as on the
server: starting a run while another is still being read cancels the older one first.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

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


class RemoteGenerator:
    """A connection to a server's engine. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        token_file: str | Path | None = None,
        cafile: str | Path | None = None,
        cache_dir: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url
        ws_url, self._http_base, address = endpoints(url)
        self._token = token_from(token, token_file)
        self._ssl = ssl_context(url, cafile)
        self._cache_dir = cache_dir
        self._ids = itertools.count(1)
        self._active: _Run | None = None
        self._processor: Any = None
        try:
            # Entered as a context manager, as websockets asks; close() leaves it.
            self._socket: ClientConnection = connect(
                ws_url,
                ssl=self._ssl,
                additional_headers={"Authorization": f"Bearer {self._token}"},
                compression=None,
                max_size=MAX_FRAME_BYTES,
                open_timeout=timeout,
                close_timeout=2,
            ).__enter__()
        except InvalidStatus as error:
            raise refused_message(error.response.status_code, error.response.body or b"") from error
        except (OSError, InvalidURI, InvalidHandshake, TimeoutError) as error:
            raise RemoteError("connection", f"cannot connect to {url}: {error}") from error
        try:
            self._send(hello_header())
            self.info = check_hello(self._receive(), address)
        except BaseException:
            self._socket.close()
            raise

    def __enter__(self) -> RemoteGenerator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close()

    # ------------------------------------------------------------------------------------------ the Generator API

    def generate(
        self,
        prompt: Prompt,
        settings: SamplerSettings,
        cancel: CancelToken | None = None,
        image_budget: int | None = None,
    ) -> Iterator[Event]:
        return self._start(generate_command(prompt, settings, image_budget), cancel)

    def rewrite(
        self,
        generation: Generation,
        span: tuple[int, int],
        locks: Iterable[int] = (),
        settings: SamplerSettings | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[Event]:
        """As `Generator.rewrite`: an impossible edit raises EditError here, at the call."""
        return self._start(rewrite_command(generation, span, locks, settings), cancel)

    def fill_around(
        self,
        generation: Generation,
        locks: Iterable[int],
        settings: SamplerSettings | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[Event]:
        return self._start(fill_around_command(generation, locks, settings), cancel)

    def from_text(self, prompt: Prompt, text: str, settings: SamplerSettings) -> Generation:
        header = self._request(from_text_command(prompt, text, settings), "generation")
        return generation_from_reply(header, prompt)

    # ------------------------------------------------------------------------------------------ the rest

    def model_info(self) -> ModelInfo:
        """Fresh model info (memory in use changes as the server works)."""
        header = self._request({"type": "info"}, "info")
        self.info = ModelInfo.from_message(header.get("info"), self.info.address)
        return self.info

    def load_model(self, source: str) -> ModelInfo:
        """Ask the server to switch checkpoints (it must allow it); the processor is fetched again on next use."""
        header = self._request({"type": "load_model", "source": source}, "loaded")
        self.info = ModelInfo.from_message(header.get("info"), self.info.address)
        self._processor = None
        return self.info

    @property
    def processor(self) -> Any:
        """The checkpoint's processor, built from its tokenizer files (fetched once, cached by hash)."""
        if self._processor is None:
            folder = fetch_files(self._http_base, self._token, list(self.info.files), self._cache_dir, self._ssl)
            self._processor = load_remote_processor(folder)
        return self._processor

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    def remote_model(self) -> RemoteModel:
        return RemoteModel(self.info, self.processor)

    # ------------------------------------------------------------------------------------------ plumbing

    def _start(self, command: dict[str, Any], cancel: CancelToken | None) -> _Run:
        if self._active is not None:
            self._active.close()
        request_id = next(self._ids)
        self._send({**command, "id": request_id})
        while True:  # until the server accepts or refuses; frames of earlier runs are dropped
            header = self._receive()
            if header.get("id") == request_id:
                reply_or_raise(header, "started")
                break
        self._active = _Run(self, request_id, cancel)
        return self._active

    def _request(self, command: dict[str, Any], expected: str) -> dict[str, Any]:
        """Send a command and read to its reply; a run's frames that arrive meanwhile are kept for the run."""
        request_id = next(self._ids)
        self._send({**command, "id": request_id})
        while True:
            header = self._receive()
            if header.get("id") == request_id:
                return reply_or_raise(header, expected)
            if self._active is not None and header.get("id") == self._active.request_id:
                self._active.pending.append(header)

    def _send(self, header: dict[str, Any]) -> None:
        try:
            self._socket.send(encode_frame(header))
        except ConnectionClosed as error:
            raise closed_message(
                error.rcvd.code if error.rcvd else None, error.rcvd.reason if error.rcvd else ""
            ) from error

    def _receive(self, timeout: float | None = None) -> dict[str, Any]:
        """The next frame's header; TimeoutError when `timeout` passes first."""
        try:
            data = self._socket.recv(timeout=timeout)
        except ConnectionClosed as error:
            raise closed_message(
                error.rcvd.code if error.rcvd else None, error.rcvd.reason if error.rcvd else ""
            ) from error
        if isinstance(data, str):
            raise RemoteError("malformed", "the server sent a text frame; this client speaks binary frames only")
        try:
            return decode_frame(data)
        except ProtocolError as error:
            raise RemoteError("malformed", f"the server sent a bad frame: {error}") from error


class _Run:
    """The events of one run, read from the connection as they arrive; cancel() asks the server to stop it."""

    def __init__(self, client: RemoteGenerator, request_id: int, cancel: CancelToken | None) -> None:
        self.client, self.request_id, self.token = client, request_id, cancel
        self.done = False
        self._cancel_sent = False
        self.queued_position = 0  # > 0 while the run waits behind other clients' runs
        self.pending: deque[dict[str, Any]] = deque()  # frames read while the client waited for another reply

    def __iter__(self) -> _Run:
        return self

    def __next__(self) -> Event:
        while not self.done:
            if self.token is not None and self.token.is_set():
                self.cancel()
            if self.pending:
                header = self.pending.popleft()
            else:
                try:
                    header = self.client._receive(POLL_SECONDS if self.token is not None else None)
                except TimeoutError:
                    continue
            if header.get("id") != self.request_id:
                continue
            if header.get("type") == "queued":
                self.queued_position = int(header.get("position") or 0)
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
        raise StopIteration

    def cancel(self) -> None:
        if not self._cancel_sent and not self.done:
            self._cancel_sent = True
            self.client._send({"type": "cancel", "id": self.request_id})

    def close(self) -> None:
        """Cancel the run if it is still going and read it to its end, so the connection is free again."""
        if self.done:
            return
        self.cancel()
        try:
            for _ in self:
                pass
        except (RemoteError, ValueError):
            pass  # it ended in an error: ended all the same (a lost connection shows on the next request)

    def _finish(self) -> None:
        self.done = True
        if self.client._active is self:
            self.client._active = None

"""The one model a server serves and the one worker thread that runs it: one generation at a time, queued.

Torch work never runs on the event loop: each run iterates the engine on the worker thread, which hands every event
(already encoded, if the caller asks) to the loop with `call_soon_threadsafe`. The worker may run at most
`MAX_IN_FLIGHT` events ahead of the consumer, so a client that reads slowly slows its own run instead of filling the
server's memory. A consumer that goes away (a client dropped, a request cancelled) cancels the run: the engine stops
at its next step. Runs wait in a FIFO queue of at most `MAX_WAITING`; beyond that the server says it is busy.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app.remote.errors import NotAllowed, ServerBusy
from app.remote.files import manifest
from app.remote.messages import ModelLimits
from app.remote.protocol import MAX_FRAME_BYTES, PROTOCOL_VERSION
from models.checkpoint.devices import memory_in_use
from models.checkpoint.heap import settle_all
from models.checkpoint.load_errors import LoadError
from models.checkpoint.loading import LoadedModel, load_checkpoint, resolve_checkpoint
from models.engine.cpu_threads import start_cpu_thread_pool
from models.engine.generator import Generator
from models.inputs.images import IMAGE_TOKEN_BUDGETS
from models.inputs.validation import is_hub_id
from models.work.events import Event, GenerationResult

MAX_IN_FLIGHT = 64  # events the worker may get ahead of a slow client
MAX_WAITING = 8  # runs that may wait for the engine; more are told the server is busy


class EngineHost:
    def __init__(
        self,
        loaded: LoadedModel,
        *,
        allow_model_switch: bool = False,
        device: str | None = None,
        dtype: str | None = None,
    ) -> None:
        self.allow_model_switch = allow_model_switch
        self._load_options = {"device": device, "dtype": dtype}
        if threading.current_thread() is threading.main_thread():
            start_cpu_thread_pool()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        self._lock = asyncio.Lock()
        self._waiting = 0
        self.runs_finished = 0  # counted on the worker thread; tests and logs read them
        self.runs_cancelled = 0
        self._use(loaded)
        # the model and its modules out of every full collection while runs stream (models/checkpoint/heap.py)
        settle_all()

    def _use(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.generator = Generator(loaded)
        self.files = manifest(Path(loaded.path))
        self.limits = ModelLimits(
            canvas_length=loaded.canvas_length,
            vocab_size=int(loaded.model.config.text_config.vocab_size),
            defaults=loaded.defaults,
        )

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def info(self) -> dict[str, Any]:
        """What a client shows and needs: the model, where it runs, its shape, defaults and tokenizer files."""
        loaded = self.loaded
        return {
            "protocol": PROTOCOL_VERSION,
            "server": f"diffusion-desk {_version()}",
            "name": loaded.name,
            "source": loaded.source,
            "device": str(loaded.device),
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "memory": memory_in_use(loaded.device),
            "canvas_length": self.limits.canvas_length,
            "vocab_size": self.limits.vocab_size,
            "defaults": loaded.defaults.to_dict(),
            "image_budgets": list(IMAGE_TOKEN_BUDGETS),
            "allow_model_switch": self.allow_model_switch,
            "max_frame_bytes": MAX_FRAME_BYTES,
            "busy": self.busy,
            "waiting": self._waiting,
            "files": self.files,
        }

    async def stream(
        self,
        events: Iterator[Event],
        cancel: threading.Event,
        transform: Callable[[Event], Any] = lambda event: event,
        on_queued: Callable[[int], Awaitable[None]] | None = None,
    ) -> AsyncIterator[Any]:
        """`transform(event)` for every event of a run, computed on the worker thread; waits its turn first.

        Leaving the iteration early (or being cancelled) cancels the run. Use it under `contextlib.aclosing`.
        """
        await self._acquire(on_queued)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        credits = threading.Semaphore(MAX_IN_FLIGHT)
        abandoned = threading.Event()

        def deliver(kind: str, item: Any) -> None:
            try:
                if kind == "end":  # first, so the next run finds the engine free when this one's end is seen
                    loop.call_soon_threadsafe(self._lock.release)
                loop.call_soon_threadsafe(queue.put_nowait, (kind, item))
            except RuntimeError:  # the loop has closed: the server is shutting down
                abandoned.set()

        try:
            loop.run_in_executor(self._executor, self._work, events, abandoned, credits, transform, deliver)
        except BaseException:
            self._lock.release()
            raise
        finished = False
        try:
            while True:
                kind, item = await queue.get()
                if kind == "end":
                    finished = True
                    return
                if kind == "error":
                    finished = True
                    raise item
                credits.release()
                yield item
        finally:
            if not finished:
                abandoned.set()
                cancel.set()

    def _work(
        self,
        events: Iterator[Event],
        abandoned: threading.Event,
        credits: threading.Semaphore,
        transform: Callable[[Event], Any],
        deliver: Callable[[str, Any], None],
    ) -> None:
        counted = False
        try:
            for event in events:
                item = transform(event)
                while not credits.acquire(timeout=0.05):
                    if abandoned.is_set():
                        break
                if abandoned.is_set():
                    return
                if isinstance(event, GenerationResult):  # counted before the client can see it
                    counted = True
                    self._count(event.cancelled)
                deliver("item", item)
        except BaseException as error:  # noqa: BLE001 - handed to the loop, which reports it to the client
            deliver("error", error)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()  # on this thread: the engine's inference_mode context is thread-local
            if not counted:
                self._count(abandoned.is_set())
            deliver("end", None)

    def _count(self, cancelled: bool) -> None:
        if cancelled:
            self.runs_cancelled += 1
        else:
            self.runs_finished += 1

    async def _acquire(self, on_queued: Callable[[int], Awaitable[None]] | None) -> None:
        if self._lock.locked() or self._waiting:
            if self._waiting >= MAX_WAITING:
                raise ServerBusy(f"the server is busy: {self._waiting} runs are already waiting for the engine")
            if on_queued is not None:
                await on_queued(self._waiting + 1)
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a short engine function (tokenizing) off the loop, on the engine's thread: a fast tokenizer used
        from two threads at once can fail ("Already borrowed"), so it waits for a run in progress to end."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def load_model(self, source: str) -> dict[str, Any]:
        """Switch to another checkpoint, if the operator allowed it; only local folders and cached hub ids."""
        if not self.allow_model_switch:
            raise NotAllowed("this server does not let clients switch models (start it with --allow-model-switch)")
        if self._lock.locked() or self._waiting:
            raise ServerBusy("the server is generating; switch models when no run is active or waiting")
        async with self._lock:  # the old model serves until the new one has loaded, as in the window
            loaded = await asyncio.get_running_loop().run_in_executor(self._executor, self._load, source)
            self._use(loaded)
            # The old model's last references are gone: free its memory now, not at some later collection, and
            # take the new one out of the collector's reach.
            settle_all()
            if loaded.device.type == "cuda":
                import torch

                torch.cuda.empty_cache()
        return self.info()

    def _load(self, source: str) -> LoadedModel:
        """A local folder, the demo, or a hub id already in this machine's cache: a client never makes it download."""
        try:
            path = resolve_checkpoint(source, allow_download=False)
        except LoadError as error:
            if Path(source).expanduser().exists() or not is_hub_id(source):
                raise
            raise LoadError(
                f"{source} is not in the server's Hugging Face cache; a client cannot make the server "
                f"download (its operator can: main.py serve --model {source})"
            ) from error
        loaded = load_checkpoint(path, allow_download=False, **self._load_options)
        loaded.source = source
        return loaded

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("diffusion-desk")
    except PackageNotFoundError:
        return "dev"

"""Runs the engine for the workspace: a local model on the worker thread, or a server's over the network (asyncio on
Qt's event loop, through qasync); one task at a time either way, and the same events reach the workspace."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.controllers.workspace_hub import WorkspaceHub
from app.running.engine_jobs import LoadProgress, PlanNeeded, load_job, stream_job
from app.running.qasync_runner import AsyncRunner
from app.running.remote_jobs import Connected, connect_job, remote_stream_job
from app.running.thread_runner import TaskRunner
from models.checkpoint.heap import hold_full_collections, settle_recent
from models.checkpoint.load_errors import LoadCancelled
from models.checkpoint.loading import LoadedModel
from models.engine.cpu_threads import (
    leave_a_core_for_the_gui,
    share_the_interpreter_with_the_gui,
    start_cpu_thread_pool,
)
from models.engine.engines import AsyncEngine, Engine, LocalEngine, check_edit, run_events
from models.inputs.validation import InputError, is_out_of_memory
from models.work.document import Document
from models.work.runs import Run, RunKind


def failure_message(error: BaseException) -> str:
    """One line a user can act on, never a traceback."""
    if is_out_of_memory(error):
        return ("The model ran out of memory. Try fewer max new tokens, a smaller image budget, "
                "or a smaller (FP8/NVFP4) build of the model.")
    text = str(error).strip()
    return text.splitlines()[0] if text else f"Unexpected error ({type(error).__name__})"


DROP_GRACE_MS = 300  # how long a server's failed run waits to learn whether its connection went with it


class EngineController(QObject):
    modelReady = Signal(object)  # LoadedModel, or a server's RemoteModel
    planned = Signal(object)  # models.checkpoint.memory_plan.MemoryPlan: the user chooses how to load
    loadProgress = Signal(float, str)
    loadCancelled = Signal()
    runEnded = Signal(object)  # Run (finished, cancelled or failed: its fate says which)
    failed = Signal(str, str)  # title, message
    busyChanged = Signal(bool)
    stopRequested = Signal()  # Stop or Cancel was pressed: the run or load stops at its next check
    refused = Signal(str)  # a prompt refused before its first step (over a limit): why; nothing was added
    connectionLost = Signal(str, object)  # why, and the Run it interrupted (or None); everything recorded stays

    def __init__(self, hub: WorkspaceHub, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self.local_runner = TaskRunner(self)
        self.remote_runner = AsyncRunner(self)
        self.loaded: Any = None  # LoadedModel, or RemoteModel while connected to a server
        self.generator: Engine | AsyncEngine | None = None  # the Generator, or the server's AsyncRemoteGenerator
        self.remote: Any = None  # the AsyncRemoteGenerator of the server connected to (with connection upkeep)
        self.loading_source: str | None = None
        self._connecting = False
        self._threads_ready = False  # torch's CPU threads are set up with the first local model
        self._run: Run | None = None  # the run being streamed; None while loading or idle
        self._dropped_run: Run | None = None  # the run a lost connection took with it (its box is said)
        self._failing_run: Run | None = None  # a server's run that failed, its box waiting for DROP_GRACE_MS
        for runner in (self.local_runner, self.remote_runner):
            runner.events.connect(self._on_events)
            runner.finished.connect(lambda result: self._on_ended(result, cancelled=False))
            runner.cancelled.connect(lambda result: self._on_ended(result, cancelled=True))
            runner.failed.connect(self._on_failed)

    @property
    def runner(self) -> TaskRunner | AsyncRunner:
        """The runner now in use: the remote one while connected (or connecting) to a server."""
        return self.remote_runner if self.remote is not None or self.remote_runner.busy else self.local_runner

    @property
    def busy(self) -> bool:
        return self.local_runner.busy or self.remote_runner.busy

    def running(self) -> Run | None:
        return self._run

    # ----- starting work ------------------------------------------------------------------------------------
    def load_model(self, source: str | None, options: dict[str, Any] | None = None,
                   allow_download: bool = True) -> bool:
        """Load in the background; the current model stays usable until the new one is ready. Without `options`
        the job plans first, and a model that does not simply fit comes back as `planned(plan)`, not loaded."""
        if self.busy or not self.local_runner.start(load_job(source, options, allow_download)):
            return False
        self.loading_source = source
        self.busyChanged.emit(True)
        return True

    def connect_server(self, url: str, token_file: str, ca_file: str | None = None) -> bool:
        """Connect to a Diffusion Desk server; its model becomes the one the window runs (`modelReady`)."""
        if self.busy or not self.remote_runner.start(connect_job(url, token_file, ca_file)):
            return False
        self.loading_source, self._connecting = url, True
        self.busyChanged.emit(True)
        return True

    def disconnect_server(self) -> None:
        remote, self.remote = self.remote, None
        if remote is not None:
            self.loaded = self.generator = None
            remote.closed.remove_done_callback(self._lost)
            _close_soon(remote)

    def check_edit(self, kind: RunKind, doc: Document, span: tuple[int, int]) -> None:
        """Raise EditError for an edit the local engine would refuse, before it becomes a run. A server checks its
        requests itself and answers with the same errors."""
        if self.remote is None and isinstance(self.generator, LocalEngine):
            check_edit(kind, doc.ids, self.loaded.canvas_length, span, doc.locks, self.generator.end_ids())

    def start_run(self, run: Run) -> bool:
        """Stream a run the workspace has just created: it carries everything the engine is asked."""
        generator = self.generator
        if self.remote is not None:
            job = remote_stream_job(lambda cancel: run_events(generator, run, cancel))
        else:
            job = stream_job(lambda cancel: run_events(generator, run, cancel))
        if generator is None or self.busy or not self.runner.start(job):
            self.hub.ws.fail_run(run.id, "the engine is busy")
            return False
        self._run = run
        hold_full_collections()  # until the run ends (models/checkpoint/heap.py)
        self.busyChanged.emit(True)
        return True

    def stop(self) -> None:
        for runner in (self.local_runner, self.remote_runner):  # a local load may run while a server is connected
            if runner.busy:
                runner.cancel()
        self.stopRequested.emit()

    def load_cancelling(self) -> bool:
        """A load (or a connection) was asked to stop and is still going: torch's import, for one, cannot be cut
        short, so it stops at its next check, which can be seconds away on a first start."""
        return self._run is None and any(runner.busy and runner.cancel_requested
                                         for runner in (self.local_runner, self.remote_runner))

    def shutdown(self) -> None:
        self.local_runner.shutdown()
        self.remote_runner.shutdown()
        self.disconnect_server()

    # ----- outcomes -------------------------------------------------------------------------------------------
    def _on_events(self, batch: list[Any]) -> None:
        progress = [event for event in batch if isinstance(event, LoadProgress)]
        if progress:
            self.loadProgress.emit(progress[-1].fraction, progress[-1].message)
        run = self._run
        if run is not None and run.id in self.hub.ws.runs:
            self.hub.ws.add_events(run.id, [event for event in batch if not isinstance(event, LoadProgress)])

    def _on_ended(self, result: Any, cancelled: bool) -> None:
        run, self._run = self._run, None
        if isinstance(result, PlanNeeded):
            self.busyChanged.emit(False)
            self.planned.emit(result.plan)
            return
        self._connecting = False
        if isinstance(result, Connected):
            self._connected(result)
            return
        if isinstance(result, LoadedModel):
            from models.engine.generator import Generator  # the worker thread imported the engine while loading

            if not self._threads_ready:  # torch's threads, set once torch is here (with the first local model)
                leave_a_core_for_the_gui()
                share_the_interpreter_with_the_gui()
                start_cpu_thread_pool()
                self._threads_ready = True
            self.disconnect_server()
            self.loaded, self.generator = result, Generator(result)
            self.busyChanged.emit(False)
            self.modelReady.emit(result)
            return
        if run is not None and run.id in self.hub.ws.runs:
            self.hub.ws.finish_run(run.id, cancelled=cancelled)
        self.busyChanged.emit(False)
        if run is not None:
            self.runEnded.emit(run)
            # The run's recorded steps leave the next runs' full collections (models/checkpoint/heap.py); in a pass of
            # its own, after the one that shows the finished run.
            QTimer.singleShot(0, self, settle_recent)

    def _connected(self, connected: Connected) -> None:
        self.disconnect_server()
        self.remote, self.generator, self.loaded = connected.remote, connected.remote, connected.model
        connected.remote.closed.add_done_callback(self._lost)
        settle_recent()  # the client's modules, imported to connect, leave every later full collection
        self.busyChanged.emit(False)
        self.modelReady.emit(connected.model)

    def _lost(self, closed: Any) -> None:
        """The connection dropped: no engine until it is back; the runs recorded so far stay in the workspace."""
        reason = str(closed.result()) if not closed.cancelled() else "the connection was closed"
        self._drop_connection(reason, self._run or self._failing_run)

    def _drop_connection(self, reason: str, run: Run | None) -> None:
        """Say once that the server is gone: the run that stops with it fails on its own, and must not say it
        again in a second box (the reader fails the run and resolves `closed` in the same breath)."""
        remote, self.remote = self.remote, None
        if remote is None:
            return
        self._dropped_run = run  # its own failure may arrive after this, in either order: it says nothing more
        self.generator = None  # `loaded` stays: the status bar and the views still name the server's model
        remote.closed.remove_done_callback(self._lost)
        self.connectionLost.emit(reason, run)

    def _on_failed(self, error: BaseException) -> None:
        run, self._run = self._run, None
        if run is not None:  # full collections were held for the run
            QTimer.singleShot(0, self, settle_recent)
        if isinstance(error, LoadCancelled):
            self.busyChanged.emit(False)
            self.loadCancelled.emit()
            return
        if run is not None and isinstance(error, InputError) and self.hub.ws.withdraw_generation(run.id):
            # The prompt was refused before anything was made: no turn, no failed run, one message.
            self.busyChanged.emit(False)
            self.refused.emit(error.reason[:1].upper() + error.reason[1:])
            return
        message = failure_message(error)
        if run is not None and run.id in self.hub.ws.runs:
            self.hub.ws.fail_run(run.id, message)
        self.busyChanged.emit(False)
        gone = self.remote is not None and self.remote.closed.done()
        if run is not None and (_connection_dropped(error) or gone or run is self._dropped_run):
            self._drop_connection(message, run)  # one message, from the connection's side
            self.runEnded.emit(run)
            return
        if run is not None and self.remote is not None:
            # A server's run can fail a moment before its connection is seen to end (measured: both boxes, once in
            # five fresh-clone runs): wait that moment, then say it once, from whichever side it was.
            self._failing_run = run
            QTimer.singleShot(DROP_GRACE_MS, self, lambda: self._run_failed(run, message))
            return
        if run is not None:
            self._run_failed(run, message)
            return
        title = "Could not connect to the server" if self._connecting else "Could not load the model"
        self._connecting = False
        self.failed.emit(title, message)

    def _run_failed(self, run: Run, message: str) -> None:
        """One box for a run that failed, unless a lost connection already said it."""
        self._failing_run = None
        self._connecting = False
        if run is not self._dropped_run:
            self.failed.emit("Generation failed", message)
        self.runEnded.emit(run)


def _connection_dropped(error: BaseException) -> bool:
    from app.remote.errors import RemoteError

    return isinstance(error, RemoteError) and error.code == "connection"


def _close_soon(remote: Any) -> None:
    import asyncio

    try:
        asyncio.ensure_future(remote.close())
    except RuntimeError:
        pass  # no event loop is running (the app is closing): the socket closes with the process

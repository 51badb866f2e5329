"""Runs the engine for the workspace: loads models and streams runs on the worker thread, one task at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.cpu_threads import leave_a_core_for_the_gui, start_cpu_thread_pool
from app.jobs import LoadProgress, PlanNeeded, load_job, stream_job
from app.tasks import TaskRunner
from app.workspace_hub import WorkspaceHub
from models.events import Event
from models.loading import LoadCancelled, LoadedModel
from models.runs import Run

#: make_events(generator, cancel) -> the run's event stream; called once with cancel None to check the request.
MakeEvents = Callable[[Any, Any], Iterator[Event]]


def failure_message(error: BaseException) -> str:
    """One line a user can act on, never a traceback."""
    if isinstance(error, MemoryError) or "out of memory" in str(error).lower():
        return ("The model ran out of memory. Try fewer max new tokens, a smaller image budget, "
                "or a smaller (FP8/NVFP4) build of the model.")
    text = str(error).strip()
    return text.splitlines()[0] if text else f"Unexpected error ({type(error).__name__})"


class EngineController(QObject):
    modelReady = Signal(object)  # LoadedModel
    planned = Signal(object)  # models.memory_plan.MemoryPlan: the user chooses how to load
    loadProgress = Signal(float, str)
    loadCancelled = Signal()
    runEnded = Signal(object)  # Run (finished, cancelled or failed: its fate says which)
    failed = Signal(str, str)  # title, message
    busyChanged = Signal(bool)

    def __init__(self, hub: WorkspaceHub, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self.runner = TaskRunner(self)
        self.loaded: LoadedModel | None = None
        self.generator: Any = None  # models.generator.Generator once a model is loaded
        self.loading_source: str | None = None
        self._run: Run | None = None  # the run being streamed; None while loading or idle
        self.runner.events.connect(self._on_events)
        self.runner.finished.connect(lambda result: self._on_ended(result, cancelled=False))
        self.runner.cancelled.connect(lambda result: self._on_ended(result, cancelled=True))
        self.runner.failed.connect(self._on_failed)

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def running(self) -> Run | None:
        return self._run

    # ----- starting work ------------------------------------------------------------------------------------
    def load_model(self, source: str | None, options: dict[str, Any] | None = None,
                   allow_download: bool = True) -> bool:
        """Load in the background; the current model stays usable until the new one is ready. Without `options`
        the job plans first, and a model that does not simply fit comes back as `planned(plan)`, not loaded."""
        if not self.runner.start(load_job(source, options, allow_download)):
            return False
        self.loading_source = source
        self.busyChanged.emit(True)
        return True

    def check(self, make_events: MakeEvents) -> None:
        """Build the stream once without running it, so an impossible request raises here (EditError, ...)."""
        make_events(self.generator, None)

    def start_run(self, run: Run, make_events: MakeEvents) -> bool:
        """Stream a run the workspace has just created."""
        generator = self.generator
        if generator is None or not self.runner.start(stream_job(lambda cancel: make_events(generator, cancel))):
            self.hub.ws.fail_run(run.id, "the engine is busy")
            return False
        self._run = run
        self.busyChanged.emit(True)
        return True

    def stop(self) -> None:
        if self.runner.busy:
            self.runner.cancel()

    def shutdown(self) -> None:
        self.runner.shutdown()

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
        if isinstance(result, LoadedModel):
            from models.generator import Generator  # the worker thread imported the engine while loading

            if self.loaded is None:  # torch's threads, set once torch is here (it loads with the first model)
                leave_a_core_for_the_gui()
                start_cpu_thread_pool()
            self.loaded, self.generator = result, Generator(result)
            self.busyChanged.emit(False)
            self.modelReady.emit(result)
            return
        if isinstance(result, PlanNeeded):
            self.busyChanged.emit(False)
            self.planned.emit(result.plan)
            return
        if run is not None and run.id in self.hub.ws.runs:
            self.hub.ws.finish_run(run.id, cancelled=cancelled)
        self.busyChanged.emit(False)
        if run is not None:
            self.runEnded.emit(run)

    def _on_failed(self, error: BaseException) -> None:
        run, self._run = self._run, None
        if isinstance(error, LoadCancelled):
            self.busyChanged.emit(False)
            self.loadCancelled.emit()
            return
        message = failure_message(error)
        if run is not None and run.id in self.hub.ws.runs:
            self.hub.ws.fail_run(run.id, message)
        self.busyChanged.emit(False)
        self.failed.emit("Generation failed" if run is not None else "Could not load the model", message)
        if run is not None:
            self.runEnded.emit(run)

"""The status bar: messages, the model in use, live speed, memory, and a load's progress with Cancel."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QProgressBar, QToolButton

from app.controllers.engine_controller import EngineController
from app.controllers.workspace_hub import WorkspaceHub
from app.shell.status_numbers import live_rate
from models.checkpoint.devices import memory_in_use
from models.work.changes import Change
from models.work.runs import Fate, Run, RunKind
from widgets.panels.steady_label import steady


class WindowStatus(QObject):
    REDRAWS_ON = Change.STEPS  # the live speed

    def __init__(self, window: QMainWindow, hub: WorkspaceHub, engine: EngineController) -> None:
        super().__init__(window)
        self.window, self.hub, self.engine = window, hub, engine
        bar = window.statusBar()
        self.model_label = QLabel("No model")
        self.memory_label = steady(QLabel(), "RAM 000.00 GiB")  # every 2 s, during runs too
        self.speed_label = steady(QLabel(), "00000.0 tok/s ")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(220)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Cancel loading (Esc)")
        self.cancel_button.clicked.connect(engine.stop)
        for widget in (self.progress, self.cancel_button):
            widget.hide()
            bar.addPermanentWidget(widget)
        for widget in (self.model_label, self.speed_label, self.memory_label):
            bar.addPermanentWidget(widget)
        self.memory_timer = QTimer(self)
        self.memory_timer.setInterval(2000)
        self.memory_timer.timeout.connect(self.update_memory)
        self.memory_timer.start()
        self.update_memory()
        engine.loadProgress.connect(self._load_progress)
        engine.loadCancelled.connect(self._load_cancelled)
        engine.stopRequested.connect(self._stop_requested)
        engine.runEnded.connect(self._run_ended)
        hub.watch(self, self._changed)

    def notify(self, message: str) -> None:
        """A message for what the user can simply fix or just needs to know."""
        self.window.statusBar().showMessage(message, 8000)

    def show_error(self, title: str, message: str) -> None:
        """One clear message in a box that does not block, never a traceback."""
        self.hide_progress()
        self.window.statusBar().showMessage(title, 10000)  # the box has the whole message; a line fits its title
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self.window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # ----- a model load -----------------------------------------------------------------------------------------
    def loading(self, source: str | None) -> None:
        self.progress.setValue(0)
        self.progress.setFormat("Loading…")
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.notify(f"Loading {source or 'the demo model'}…")

    def loaded(self, loaded: Any) -> None:
        self.hide_progress()
        info = getattr(loaded, "info", None)  # a server's model: where it runs and what memory it holds there
        if info is not None:
            self.model_label.setText(f"{loaded.name} · {info.status_text()}")
            self.notify(f"Connected to {info.address}: {loaded.name}")
        else:
            self.model_label.setText(f"{loaded.name} · {loaded.device.type} · "
                                     f"{str(loaded.dtype).removeprefix('torch.')}")
            self.notify(f"Loaded {loaded.name}")
        self.memory_label.setVisible(info is None)
        self.update_memory()

    def model_gone(self, why: str) -> None:
        self.model_label.setText(why)
        self.memory_label.show()

    def hide_progress(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()

    def _load_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 100))
        self.progress.setFormat("Cancelling…" if self.engine.load_cancelling() else message)

    def _stop_requested(self) -> None:
        if self.engine.load_cancelling():
            self.progress.setFormat("Cancelling…")
            self.cancel_button.setEnabled(False)
            self.notify("Cancelling the load; it stops at its next step…")

    def _load_cancelled(self) -> None:
        self.hide_progress()
        loaded = self.engine.loaded
        if loaded is not None:
            self.notify(f"Loading cancelled; still using {loaded.name}")
        else:
            self.notify("Loading cancelled: no model is loaded (Ctrl+Enter offers the demo model; the Model menu "
                        "opens others)")

    # ----- runs -------------------------------------------------------------------------------------------------
    def generating(self, seed: int | None, compiling: bool) -> None:
        self.speed_label.setText("")
        self.notify("Compiling the denoising step (the first run takes a minute or more)…" if compiling
                    else f"Generating (seed {seed})…")

    def _changed(self, change: Change) -> None:
        run = self.engine.running()
        if run is not None:
            self.speed_label.setText(f"{live_rate(run.record):.1f} tok/s")

    def _run_ended(self, run: Run) -> None:
        if run.result is not None:
            self.speed_label.setText(f"{run.result.tokens_per_second:.1f} tok/s")
        message = {Fate.PROPOSED: "Review the proposal: Enter accepts, Esc rejects",
                   Fate.UNCHANGED: "The model kept the text as it was", Fate.CANCELLED: "Stopped"}.get(run.fate)
        if message is None and run.kind is RunKind.GENERATE and run.fate is Fate.ACCEPTED:
            message = "Done"
        if message:
            self.notify(message)

    def update_memory(self) -> None:
        loaded = self.engine.loaded
        self.memory_label.setText(memory_in_use(loaded.device if loaded else None))

    def stop(self) -> None:
        self.memory_timer.stop()

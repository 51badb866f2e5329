"""Generate → Run with every sampler: the prompt in the boxes once per sampler, one seed, one run after another; then
the runs are compared (CompareWindow, with a chooser for the pair)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from app.controllers.engine_controller import EngineController
from app.controllers.generate_controller import GenerateController
from models.work.runs import KEPT, Run
from models.work.settings import SAMPLER_LABELS, SAMPLERS, SamplerSettings


class EverySampler(QObject):
    done = Signal(list)  # the run ids, one per sampler, in SAMPLERS' order

    def __init__(self, generation: GenerateController, engine: EngineController, notify: Callable[[str], None],
                 parent: QWidget) -> None:
        super().__init__(parent)
        self.generation, self.notify = generation, notify
        self.action = QAction("Run with &every sampler", parent)
        self.action.setShortcut(QKeySequence("Ctrl+Shift+Return"))
        self.action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.action.setToolTip("Generate the prompt once with each sampler (entropy bound, block refinement, DDIM), "
                               "with the same seed, then compare them side by side")
        self.action.triggered.connect(lambda checked=False: self.start())
        parent.addAction(self.action)
        self._waiting: list[SamplerSettings] = []  # the samplers still to run
        self._runs: list[int] = []
        engine.runEnded.connect(self._run_ended)

    def start(self) -> bool:
        """Run with every sampler, each with the panel's settings for it and the same (definite) seed."""
        settings = self.generation.run_settings()
        if settings is None:
            return False
        self._waiting = [settings.with_values(sampler=name) for name in SAMPLERS]
        self._runs = []
        return self._next()

    def _next(self) -> bool:
        settings = self._waiting.pop(0)
        ws = self.generation.hub.ws
        if self._runs:  # the same question as the first run: a branch beside its turn, never a follow-up to it
            ws.set_draft(dataclasses.replace(ws.draft, branch_of=ws.runs[self._runs[0]].turn))
        if not self.generation.generate(settings) or self.generation.last_run is None:
            self._waiting, self._runs = [], []
            return False
        self._runs.append(self.generation.last_run.id)
        self.notify(f"Running with every sampler (seed {settings.seed}): "
                    f"{SAMPLER_LABELS[settings.sampler]}, {len(self._runs)} of {len(SAMPLERS)}…")
        return True

    def _run_ended(self, run: Run) -> None:
        if not self._runs or run.id != self._runs[-1]:
            return
        if run.fate not in KEPT:  # stopped or failed: the rest is not run
            self._waiting, self._runs = [], []
            return
        if self._waiting:
            # After every other listener has seen this run end (the status bar, autosave), not in the middle.
            QTimer.singleShot(0, self, self._next)
            return
        runs, self._runs = self._runs, []
        self.notify("Ran with every sampler: the compare window shows two of them side by side (choose which above "
                    "each grid).")
        self.done.emit(runs)

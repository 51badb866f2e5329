"""File → Export: the denoising of the canvas on screen as an animation or images, the step data, the conversation.

Each action asks for a file name, copies what the export needs from the workspace (on the GUI thread), and writes
it on a worker thread behind a progress dialog whose Cancel stops it; a cancelled export writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QProgressDialog, QWidget

from app.controllers.file_places import remember_folder, suggested_path
from app.controllers.workspace_hub import WorkspaceHub
from app.export.jobs import IMAGES, KINDS, ExportRequest, export_request, perform
from app.running.thread_runner import TaskRunner
from models.canvas.overlays import Overlay
from models.export.step_data import ExportError
from models.work.changes import Change
from widgets.panels.modal import save_file_name

_PATTERNS = {
    "gif": "GIF (*.gif)",
    "apng": "Animated PNG (*.apng *.png)",
    "pngs": "PNG (*.png)",
    "heatmap": "PNG (*.png)",
    "csv": "CSV (*.csv)",
    "json": "JSON (*.json)",
    "md": "Markdown (*.md)",
}


class ExportController(QObject):
    REDRAWS_ON = Change.every()  # which exports there is something to export for

    finished = Signal(str)  # what was written
    failed = Signal(str)  # why not
    cancelled = Signal()

    def __init__(self, hub: WorkspaceHub, window: QWidget, notify: Callable[[str], None] | None = None,
                 overlay: Callable[[], Overlay] | None = None, store: QSettings | None = None,
                 parent: QObject | None = None) -> None:  # fmt: skip
        """`notify` shows a one-line message (the status bar); `overlay` says what the grid is coloured by, so the
        exported grid looks as it does on screen."""
        super().__init__(parent or window)
        self.hub, self.window = hub, window
        self.notify = notify or (lambda text: None)
        self.overlay = overlay or (lambda: Overlay.ENTROPY)
        self.runner = TaskRunner(self)
        self.runner.events.connect(self._progressed)
        self.runner.finished.connect(self._done)
        self.runner.failed.connect(lambda error: self._fail(str(error) or type(error).__name__))
        self.runner.cancelled.connect(self._cancelled)
        self.progress: QProgressDialog | None = None
        self.actions: dict[str, QAction] = {}
        self.store = store or QSettings()  # the same remembered folder as the session dialogs
        hub.watch(self, lambda change: self.update_actions())

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def build_menu(self, menu: QMenu, kinds: Iterable[str] = tuple(KINDS)) -> QMenu:
        """Add an "Export" submenu to `menu` with an action per kind (all of KINDS by default); returns it."""
        submenu = menu.addMenu("E&xport")
        for kind in kinds:
            label = KINDS[kind][0]
            if kind == "md":
                submenu.addSeparator()
            action = submenu.addAction(label)
            action.triggered.connect(lambda checked=False, k=kind: self.ask(kind=k))
            self.actions[kind] = action
        self.update_actions()
        return submenu

    def update_actions(self) -> None:
        ws = self.hub.ws
        has_steps = any(run.canvas_indices for run in ws.runs.values())
        for kind, action in self.actions.items():
            action.setEnabled(not self.busy and (ws.document is not None if kind == "md" else has_steps))

    def ask(self, kind: str) -> None:
        """Ask where to write `kind`, then export it there."""
        label, suffix = KINDS[kind]
        start = suggested_path(self.store, self.hub.ws, "denoising", suffix)
        path = save_file_name(self.window, label.rstrip("…"), start, _PATTERNS[kind])
        if path:
            if not Path(path).suffix:
                path += suffix
            remember_folder(self.store, path)
            self.export(kind, path)

    def export(self, kind: str, path: str, run_id: int | None = None, canvas: int | None = None) -> bool:
        """Start writing `kind` to `path` (default: the run and canvas on screen); False if it cannot start."""
        if self.busy:
            self._fail("An export is still running")
            return False
        style = None
        if kind in IMAGES:
            from app.export.images import FRAME_SIZE, FrameStyle
            from widgets.canvas.grid_render import GridColours

            style = FrameStyle(GridColours.of(self.window.palette()), self.window.font(), FRAME_SIZE, self.overlay())
        try:
            request = export_request(self.hub.ws, kind, path, run_id, canvas, style)
        except ExportError as error:
            self._fail(str(error))
            return False
        self.runner.start(lambda emit, cancel: perform(request, lambda done, total: emit((done, total)), cancel))
        self._show_progress(request)
        self.update_actions()
        return True

    def cancel(self) -> None:
        self.runner.cancel()

    def shutdown(self) -> None:
        """Stop an export in progress and wait for its thread (the window is closing)."""
        self.runner.shutdown()
        self._close_progress()

    # ----- progress and outcome -------------------------------------------------------------------------------
    def _show_progress(self, request: ExportRequest) -> None:
        steps = len(request.run.steps(request.canvas)) if request.run is not None else 0
        dialog = QProgressDialog(f"Exporting {Path(request.path).name}…", "Cancel", 0, max(steps, 1), self.window)
        dialog.setWindowTitle("Export")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(400)  # a quick export finishes before the dialog would flash up
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(self.cancel)
        dialog.setValue(0)
        self.progress = dialog

    def _progressed(self, events: list) -> None:
        if self.progress is not None and events:
            done, total = events[-1]
            self.progress.setMaximum(total)
            self.progress.setValue(done)

    def _close_progress(self) -> None:
        if self.progress is not None:
            self.progress.canceled.disconnect(self.cancel)
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None

    def _done(self, message: str | None) -> None:
        self._close_progress()
        self.update_actions()
        if message is None:
            self._cancelled(None)
            return
        self.notify(message[0].upper() + message[1:])
        self.finished.emit(message)

    def _cancelled(self, _result: object) -> None:
        self._close_progress()
        self.update_actions()
        self.notify("Export cancelled: nothing was written")
        self.cancelled.emit()

    def _fail(self, message: str) -> None:
        self._close_progress()
        self.update_actions()
        self.notify(f"Export failed: {message}")
        self.failed.emit(message)

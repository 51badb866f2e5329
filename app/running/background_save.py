"""Writing a session off the GUI thread: a frozen copy of the workspace is zipped and written atomically."""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from models.inputs.safe_files import UserFileError, write_atomic
from models.session.writing import session_bytes
from models.work.workspace import Workspace


class SessionWriter(QObject):
    """One write at a time; `written(path, revision, error)` arrives on the GUI thread ("" error: success)."""

    written = Signal(str, int, str)

    def __init__(self, saved_by: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.saved_by = saved_by
        self._thread: threading.Thread | None = None
        self._on_done: Callable[[str, int, str], None] | None = None
        self.written.connect(self._finished)  # queued: emitted on the writer thread, delivered on the GUI thread

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def write(self, ws: Workspace, path: str, on_done: Callable[[str, int, str], None] | None = None) -> bool:
        """Start writing `ws` as it is now to `path`; False while another write is still going."""
        if self.busy:
            return False
        frozen, revision = ws.frozen(), ws.revision  # taken on the GUI thread: later changes do not leak in

        def work() -> None:
            try:
                write_atomic(path, session_bytes(frozen, self.saved_by))
                error = ""
            except (UserFileError, OSError, MemoryError) as failure:
                error = str(failure) or type(failure).__name__
            self.written.emit(path, revision, error)

        self._on_done = on_done
        self._thread = threading.Thread(target=work, name="session-writer", daemon=True)
        self._thread.start()
        return True

    def wait(self) -> None:
        """Block until the write in progress (if any) is on disk: used when the window closes."""
        if self._thread is not None:
            self._thread.join()

    def _finished(self, path: str, revision: int, error: str) -> None:
        done, self._on_done = self._on_done, None
        if done is not None:
            done(path, revision, error)

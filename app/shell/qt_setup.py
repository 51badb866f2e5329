"""Process-wide Qt settings, applied before the QApplication is created."""

from __future__ import annotations

import os


def prepare_qt_environment() -> None:
    # Qt's raster engine splits a large fill across a thread pool of its own and waits for it. With torch's threads
    # busy on the other cores, the GUI thread sat waiting on that pool for a seventh of its painting time at canvas
    # 256 (sampled with py-spy). This window's fills are small: drawing them inline on the GUI thread is quicker.
    os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")

"""Run the window; with --screenshot, run one prompt to the end, save a PNG of the window and exit."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import qasync
from PySide6.QtCore import QBuffer, QIODevice, QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app.shell.main_window import MainWindow
from app.shell.qt_setup import prepare_qt_environment
from models.checkpoint.heap import settle_all
from models.inputs.safe_files import UserFileError, write_atomic
from resources import ICON_PNG
from widgets.panels.modal import set_unattended

ORGANIZATION = "DiffusionDesk"
APPLICATION = "Diffusion Desk"
PROGRAM = "diffusion-desk"
FIRST_FRAME_MS = 100


def save_png(widget: MainWindow, path: str) -> None:
    """The window as PNG, written atomically (models.inputs.safe_files.write_atomic): a failure never leaves a half
    PNG."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not widget.grab().save(buffer, "PNG"):
        raise OSError(f"could not encode the window as PNG for {path}")
    try:
        write_atomic(path, bytes(buffer.data().data()))
    except UserFileError as error:
        raise OSError(str(error)) from error


def run_window(args: argparse.Namespace) -> int:
    """Open the window with the options app.launcher read (app.launcher.window_parser); the exit status."""
    if args.screenshot:
        # Nobody drives a screenshot run: no dialog may wait for an answer, and its autosaves and settings go to a
        # scratch folder, never the user's (nor is an earlier crash's work offered back into the picture).
        set_unattended(True)
        scratch = tempfile.TemporaryDirectory()
        os.environ["DIFFUSION_DESK_DATA"] = str(Path(scratch.name) / "data")
    prepare_qt_environment()
    # "diffusion-desk" as argv[0] names the window's class for the window manager (WM_CLASS), not "main.py".
    app = QApplication.instance() or QApplication([PROGRAM])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setDesktopFileName(PROGRAM)
    app.setWindowIcon(QIcon(str(ICON_PNG)))
    if args.screenshot:
        # A screenshot run leaves the user's saved layout and settings alone and always has the same size.
        window = MainWindow(QSettings(str(Path(scratch.name) / "settings.ini"), QSettings.Format.IniFormat))
        window.resize(1400, 900)
    else:
        window = MainWindow(QSettings())
    if args.prompt:
        window.prompt_panel.set_prompt(args.prompt, args.system, args.think)
    status = {"code": 0}

    def first_model_ready(_loaded: object) -> None:
        window.modelReady.disconnect(first_model_ready)
        if args.seed is not None:  # after the checkpoint's defaults are applied
            window.sampler_panel.set_settings(window.sampler_panel.settings().with_values(seed=args.seed))
        if args.screenshot:
            QTimer.singleShot(0, window.generate)

    window.modelReady.connect(first_model_ready)

    def fail(message: str) -> None:
        print(f"diffusion-desk: {message}", file=sys.stderr)
        status["code"] = 2
        window.close()  # asks nothing in a run nobody drives (widgets.panels.modal); stops the worker
        app.quit()

    if args.screenshot:
        window.errorShown.connect(fail)

        def shoot() -> None:
            try:
                save_png(window, args.screenshot)
            except OSError as error:
                fail(str(error))
                return
            window.close()
            app.quit()

        # A moment for the layouts to settle on the final state before the window is painted.
        window.generationDone.connect(lambda _result: QTimer.singleShot(250, shoot))
    # Qt's and pyqtgraph's modules and the window's objects leave every later full collection
    # (models/checkpoint/heap.py).
    settle_all()
    window.show()
    remembered = window.store.value("models/last") or None
    source = args.model if args.model is not None or args.screenshot else remembered

    def start_loading() -> None:
        print(f"Diffusion Desk: window open; loading {source or 'the demo model'} (progress in the status bar)",
              file=sys.stderr, flush=True)
        if source is not None and source == remembered and args.model is None:
            def fall_back_to_demo(_message: str) -> None:
                # The model used last time is gone (deleted folder, no cache): start on the demo model instead.
                window.errorShown.disconnect(fall_back_to_demo)
                window.load_model(None)

            window.errorShown.connect(fall_back_to_demo)
            window.modelReady.connect(lambda _: _disconnect_quietly(window.errorShown, fall_back_to_demo))
        window.load_model(source)

    # Loading imports torch on the worker thread, which holds the interpreter for seconds: the window paints first.
    QTimer.singleShot(FIRST_FRAME_MS, start_loading)
    # Qt's event loop, driven by qasync as asyncio's too: a server connection runs on it, with no thread of its own.
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_forever()
    return status["code"]


def _disconnect_quietly(signal, slot) -> None:
    try:
        signal.disconnect(slot)
    except (RuntimeError, TypeError):
        pass  # already disconnected

"""`main.py export`: a session's denoising as images or data, without the window (and, for data, without Qt).

    python main.py export --session FILE --to OUT.gif|.apng|.png|.csv|.json|.md [--run K] [--canvas N]
                          [--per-step] [--overlay entropy|revisions|commit-order|margin]

.gif/.apng: the token grid at every recorded step of one canvas, one frame per step; .png: the entropy heatmap of that
canvas (with --per-step: a PNG of the grid per step, OUT-step01.png ...); .csv/.json: the recorded steps of the run,
every canvas unless --canvas names one; .md: the conversation. By default the run on screen when the session was
saved (else the last run kept in the text) and the canvas on screen (else the run's first); --run K is the run the
window labels #K, --canvas N the canvas it labels "Canvas N". Bad input: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

from app.cli.generate import EXIT_BAD_INPUT, CliError, _Parser, one_line
from models.canvas.overlays import Overlay

OVERLAYS = {overlay.name.lower().replace("_", "-"): overlay for overlay in Overlay}
_app = None  # the QGuiApplication of an image export, alive until the process ends


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="diffusion-desk export",
                     description="Write a session's denoising as images (GIF, APNG, PNG) or data (CSV, JSON), or its "
                                 "conversation as Markdown.",
                     epilog="By default: the run on screen when the session was saved (else the last run kept in "
                            "the text) and the canvas on screen (else the run's first); CSV and JSON hold every "
                            "canvas of the run unless --canvas names one.")  # fmt: skip
    parser.add_argument("--session", required=True, help="a session file (File → Save, or generate --save)")
    parser.add_argument("--to", required=True, metavar="OUT", help="OUT.gif, .apng, .png, .csv, .json or .md")
    parser.add_argument("--run", type=int, metavar="K", help="the run labelled #K (default: the one on screen)")
    parser.add_argument("--canvas", type=int, metavar="N", help="Canvas N, counted from 1 (default: the one on screen)")
    parser.add_argument("--per-step", action="store_true", help="with OUT.png: a PNG of the grid per step")
    parser.add_argument("--overlay", choices=sorted(OVERLAYS), default="entropy", help="what the grid is coloured by")
    return parser


def _gui_application() -> None:
    """Painting text needs a QGuiApplication; with no display to show one on, Qt's offscreen platform."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("darwin", "win32")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    global _app
    if QGuiApplication.instance() is None:
        _app = QGuiApplication(sys.argv[:1])


def export(args: argparse.Namespace) -> str:
    from app.export.jobs import IMAGES, export_request, kind_of, perform
    from models.export.step_data import ExportError
    from models.session.files import open_session

    kind = kind_of(args.to, args.per_step)
    if args.canvas is not None and args.canvas < 1:
        raise ExportError(f"--canvas {args.canvas}: canvases are counted from 1")
    ws = open_session(args.session)
    style = None
    if kind in IMAGES:
        _gui_application()
        from app.export.images import FrameStyle

        style = FrameStyle.default(OVERLAYS[args.overlay])
    canvas = None if args.canvas is None else args.canvas - 1
    request = export_request(ws, kind, args.to, args.run, canvas, style)
    return perform(request, lambda done, total: None, threading.Event()) or ""


def main(argv: list[str]) -> int:
    """0 on success (one line on stdout says what was written); 2 and one line on stderr for bad input."""
    from models.export.step_data import ExportError
    from models.inputs.safe_files import UserFileError
    from models.session.files import NeedsItsModel, SessionError

    try:
        args = _parser().parse_args(argv)
        print(export(args))
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    except NeedsItsModel as error:
        return _fail(f"{args.session} is a version-1 session, which replays only on its model ({error.source}); "
                     "open it in the window and save it again")  # fmt: skip
    except (CliError, ExportError, SessionError, UserFileError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        print("diffusion-desk: interrupted", file=sys.stderr)
        return 130
    return 0


def _fail(message: str) -> int:
    print(f"diffusion-desk: {one_line(message)}", file=sys.stderr)
    return EXIT_BAD_INPUT

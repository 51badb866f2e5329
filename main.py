"""Diffusion Desk: `python main.py` opens the window; `python main.py generate|rewrite ...` is the command line;
`python main.py serve ...` serves the engine to remote clients; `python main.py export ...` writes a session's
denoising as images or data."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in {"generate", "rewrite"}:
        from app.cli import main as cli_main  # imports no Qt

        return cli_main(args)
    if args and args[0] == "export":
        from app.cli_export import main as export_main  # imports Qt only for the grid images

        return export_main(args[1:])
    if args and args[0] == "serve":
        from app.remote.serve import main as serve_main  # imports no Qt

        return serve_main(args[1:])
    # Said at once: Qt and the window's modules take a moment to import before anything shows.
    print("Diffusion Desk: opening the window…", file=sys.stderr, flush=True)
    from app.main import main as gui_main

    return gui_main(args)


if __name__ == "__main__":
    sys.exit(main())

"""Diffusion Desk: `python main.py` opens the window; `python main.py generate|rewrite ...` is the command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in {"generate", "rewrite"}:
        from app.cli import main as cli_main  # imports no Qt

        return cli_main(args)
    from app.main import main as gui_main

    return gui_main(args)


if __name__ == "__main__":
    sys.exit(main())

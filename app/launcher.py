"""`diffusion-desk` (and `python main.py`): the window, or one of the commands in COMMANDS.

The arguments are read before anything heavy is imported: `--help` and a mistake answer at once, and Qt is imported
only when the window is really going to open.
"""

from __future__ import annotations

import argparse
import sys

PROGRAM = "diffusion-desk"
#: name -> what it does, for the help; each command has its own --help.
COMMANDS = {
    "generate": "generate an answer on the command line, no window (the demo model unless --model)",
    "rewrite": "re-denoise or rewrite a span of a saved session",
    "export": "write a session's denoising as GIF, APNG, PNGs, a heatmap, CSV or JSON",
    "serve": "serve the engine to windows and clients on other machines",
    "install-desktop": "add Diffusion Desk to this desktop's application menu, with its icon (Linux)",
}


def window_parser() -> argparse.ArgumentParser:
    listed = "\n".join(f"  {name:<16} {meaning}" for name, meaning in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog=PROGRAM, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Watch and steer text diffusion. With no command, opens the window.",
        epilog=f"commands (each has its own --help, e.g. `{PROGRAM} generate --help`):\n{listed}")
    parser.add_argument("--model", help="checkpoint folder or hub id (default: the last one used, else the demo)")
    parser.add_argument("--prompt", help="put this prompt in the window")
    parser.add_argument("--system", default="", help="system prompt")
    parser.add_argument("--think", action="store_true", help="thinking mode")
    parser.add_argument("--seed", type=int, help="fixed seed")
    parser.add_argument("--screenshot", metavar="FILE",
                        help="run --prompt to the end, save the window as PNG and exit (asks nothing, waits on no "
                             "dialog)")
    return parser


def _refuse(message: str) -> int:
    print(f"{PROGRAM}: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else ""
    if command in {"generate", "rewrite"}:
        from app.cli.generate import main as cli_main  # imports no Qt

        return cli_main(args)
    if command == "export":
        from app.cli.export import main as export_main  # imports Qt only for the grid images

        return export_main(args[1:])
    if command == "serve":
        from app.cli.serve import main as serve_main  # imports no Qt

        return serve_main(args[1:])
    if command == "install-desktop":
        from app.cli.desktop_entry import main as desktop_main  # imports no Qt

        return desktop_main(args[1:])
    if command and not command.startswith("-"):
        return _refuse(f"no command {command!r}; the commands are {', '.join(COMMANDS)} (see --help)")
    options = window_parser().parse_args(args)  # --help and mistakes end here, before Qt is imported
    if options.screenshot and not options.prompt:
        return _refuse("--screenshot needs --prompt")
    # Said at once: Qt and the window's modules take a moment to import before anything shows.
    print("Diffusion Desk: opening the window…", file=sys.stderr, flush=True)
    from app.shell.main import run_window

    return run_window(options)


if __name__ == "__main__":
    sys.exit(main())

"""Diffusion Desk from a clone: `python main.py` opens the window; `python main.py generate|rewrite ...` is the
command line; `python main.py serve ...` serves the engine to remote clients; `python main.py export ...` writes a
session's denoising as images or data; `python main.py install-desktop` adds the app to the desktop's menu.
An installed copy runs the same as `diffusion-desk` (app/launcher.py)."""

from __future__ import annotations

import sys

from app.launcher import main

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Sets up .venv if needed, checks that Qt can open a window here, then launches Diffusion Desk (on the shipped demo
# model unless --model is given).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/check_qt.py || exit 2
exec .venv/bin/python main.py "$@"

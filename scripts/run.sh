#!/usr/bin/env bash
# Sets up .venv if needed, then launches Diffusion Desk (on the shipped demo model unless --model is given).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python main.py "$@"

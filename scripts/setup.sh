#!/usr/bin/env bash
# Creates .venv and installs Diffusion Desk into it; quick when nothing changed.
# Where there is no NVIDIA GPU it installs the CPU build of torch (pinned, so pip never pulls a multi-GB CUDA build);
# a GPU user installs the CUDA build of torch first (see README) and this script keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.diffusion-desk-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then exit 0; fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q "torch==2.13.0"
fi
.venv/bin/python -m pip install -q -e ".[test]"
touch "$stamp"

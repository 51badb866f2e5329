#!/usr/bin/env bash
# Creates .venv and installs Diffusion Desk into it; quick when nothing changed.
# torch is installed first and kept once there: from TORCH_INDEX_URL when set (PyTorch's CPU or CUDA index, see
# README), else the pinned torch==2.13.0, which on this project's machines is a local CPU build (no multi-GB
# download). Nothing after that asks for another torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.diffusion-desk-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then exit 0; fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    .venv/bin/python -m pip install -q torch --index-url "$TORCH_INDEX_URL"
  else
    .venv/bin/python -m pip install -q "torch==2.13.0"
  fi
fi
.venv/bin/python -m pip install -q -e ".[test]"
touch "$stamp"

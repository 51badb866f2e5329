#!/usr/bin/env bash
# Creates .venv and installs Diffusion Desk into it; quick when nothing changed.
# torch is installed first and kept once there: from TORCH_INDEX_URL when set (PyTorch's CPU or CUDA index, see
# README), else the pinned torch==2.13.0, which on this project's machines is a local CPU build (no multi-GB
# download). Nothing after that asks for another torch.
# pip runs quietly, so each step says what it does and how long it took: the first run took about a minute on a
# 2-core machine with the packages at hand, longer where they come over a slow network.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
stamp=.venv/.diffusion-desk-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then exit 0; fi
started=$SECONDS
say() { echo "Diffusion Desk setup: $*" >&2; }
if [ -f "$stamp" ]; then
  say "pyproject.toml changed; updating .venv (seconds, unless new packages are needed)…"
else
  say "first run: installing torch, transformers, Qt and the rest into .venv (about a minute here, several over" \
      "a slow network; later runs skip this)…"
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    say "installing torch from $TORCH_INDEX_URL"
    .venv/bin/python -m pip install -q torch --index-url "$TORCH_INDEX_URL"
  else
    say "installing torch 2.13.0"
    .venv/bin/python -m pip install -q "torch==2.13.0"
  fi
fi
say "installing the other packages ($((SECONDS - started)) s so far)"
# An editable install, so the clone's code is what runs. setuptools warns about every editable install (folders in
# the working directory named like the packages take precedence): here that is the point, so its warnings are
# silenced for this one command; errors still show and still stop the script.
PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e ".[test]"
touch "$stamp"
say "done in $((SECONDS - started)) s"

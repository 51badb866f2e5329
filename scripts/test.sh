#!/usr/bin/env bash
# Sets up .venv if needed, then runs the whole test suite headless (no GPU, no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen} HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"

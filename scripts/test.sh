#!/usr/bin/env bash
# Set up (idempotent), lint, type-check and run the whole test suite: scripts/test.sh [pytest args]
#   quick loop for edge/ work (no TensorFlow, no slow tests): scripts/test.sh -m "not slow and not convert"
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "[test] ruff check" >&2
.venv/bin/ruff check .
echo "[test] mypy (edge/)" >&2
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"

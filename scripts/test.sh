#!/usr/bin/env bash
# Install everything (see setup.sh) and run the whole test suite: linters, the panel's unit
# tests, then pytest (real Jupyter servers, kernels, SQLite files, websockets and Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
MLOPS_SETUP_TEST=1 bash scripts/setup.sh
VENV="${MLOPS_VENV:-$PWD/.venv}"
export PATH="$VENV/bin:$PATH"

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== labextension: lint and unit tests"
(cd labextension && jlpm install --immutable >/dev/null 2>&1 || jlpm install >/dev/null \
  && jlpm lint:check && jlpm test)
echo "== pytest"
python -m pytest "$@"

#!/usr/bin/env bash
# Install everything (see setup.sh) and run the whole test suite: linters, the panel's unit
# tests, the packaging check, then pytest (real Jupyter servers, kernels, SQLite files,
# websockets and Chromium).
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
# The packaging check (scripts/check_package.sh, about six minutes: two fresh venvs with torch)
# runs with the whole suite; MLOPS_PACKAGE_CHECK=1 adds it to a partial run, =0 skips it.
if [ "${MLOPS_PACKAGE_CHECK:-$([ $# -eq 0 ] && echo 1 || echo 0)}" = 1 ]; then
  echo "== packaging: sdist and wheel from a clean tree, installed without node"
  bash scripts/check_package.sh
fi
echo "== pytest"
python -m pytest "$@"

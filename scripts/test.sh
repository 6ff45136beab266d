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
# A whole run (no arguments, as CI) adds two steps around pytest: the packaging check
# (scripts/check_package.sh, about six minutes of installing two fresh venvs, run in the
# background at low priority while pytest runs) and the Ray tests (tests/ray) in their own step.
# MLOPS_PACKAGE_CHECK=1 adds the packaging check to a partial run, =0 skips it.
full=$([ $# -eq 0 ] && echo 1 || echo 0)
package_pid=""
package_log=$(mktemp)
# on a failure before the end, stop the packaging check too (its own trap cleans up after it)
trap '[ -n "$package_pid" ] && kill "$package_pid" 2>/dev/null; rm -f "$package_log"' EXIT
if [ "${MLOPS_PACKAGE_CHECK:-$full}" = 1 ]; then
  echo "== packaging: sdist and wheel from a clean tree, installed without node (in the background)"
  nice -n 19 bash scripts/check_package.sh >"$package_log" 2>&1 &
  package_pid=$!
fi

echo "== pytest"
if [ "$full" = 1 ]; then
  python -m pytest --ignore=tests/ray  # in their own step below
  echo "== ray: trials on a local two-node Ray cluster (tests/ray)"
  if python -m pip --disable-pip-version-check -q install "ray>=2.40,<3"; then
    python -m pytest -m ray tests/ray
  else
    echo "Ray could not be installed here, so the Ray tests (tests/ray) were not run."
  fi
else
  python -m pytest "$@"
fi

if [ -n "$package_pid" ]; then
  rc=0
  wait "$package_pid" || rc=$?
  package_pid=""
  echo "== packaging check (exit $rc)"
  cat "$package_log"
  exit "$rc"
fi

#!/usr/bin/env bash
# Install everything (see setup.sh) and start the product on the embedded SQLite store:
# JupyterLab with the extension, the tutorial worker notebook running in one of its kernels,
# and the Voilà demo classifier. The same as `jupyter mlops start` after a pip install; here
# the notebooks are the clone's own (links into jupyter_mlops/examples/).
#   MLOPS_PORT (default 8888), MLOPS_TOKEN (default: random), MLOPS_ROOT (store folder)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${MLOPS_VENV:-$PWD/.venv}"
export PATH="$VENV/bin:$PATH"
args=(--no-browser --port="${MLOPS_PORT:-8888}")
[ -n "${MLOPS_TOKEN:-}" ] && args+=(--token="$MLOPS_TOKEN")
[ -n "${MLOPS_ROOT:-}" ] && args+=(--root="$MLOPS_ROOT")
exec jupyter mlops start . "${args[@]}"

#!/usr/bin/env bash
# Install everything (see setup.sh) and start the product on the embedded SQLite store:
# JupyterLab with the extension, the tutorial worker notebook running in one of its kernels,
# and the Voilà demo classifier.
#   MLOPS_PORT (default 8888), MLOPS_TOKEN (default: random), MLOPS_ROOT (store folder)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${MLOPS_VENV:-$PWD/.venv}"
export PATH="$VENV/bin:$PATH"
PORT="${MLOPS_PORT:-8888}"
TOKEN="${MLOPS_TOKEN:-$(python -c 'import secrets; print(secrets.token_hex(16))')}"
args=(--no-browser --port="$PORT" --ServerApp.port_retries=0 --IdentityProvider.token="$TOKEN"
      --MLOpsApp.autostart_notebooks=train_cifar.ipynb)
[ -n "${MLOPS_ROOT:-}" ] && args+=(--MLOpsApp.root_dir="$MLOPS_ROOT")
[ "$(id -u)" = 0 ] && args+=(--allow-root)
cat <<MSG

  JupyterLab (open the MLOps panel in the left bar):
      http://127.0.0.1:$PORT/lab?token=$TOKEN
  Demo classifier (Voila):
      http://127.0.0.1:$PORT/voila/render/demo_voila.ipynb?token=$TOKEN
  The worker notebook train_cifar.ipynb is starting in a kernel of this server.
  Stop with Ctrl-C.

MSG
exec jupyter lab "${args[@]}"

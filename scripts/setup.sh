#!/usr/bin/env bash
# Set up everything jupyter-mlops needs, from a fresh machine; safe to run again.
#   MLOPS_VENV   where the virtual environment lives (default: .venv in the checkout)
#   MLOPS_SETUP_TEST=1   also install the test tools (Chromium for the browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MLOPS_VENV:-$PWD/.venv}"
PYTHON="${PYTHON:-python3}"

need_apt=()
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ "${MLOPS_SETUP_TEST:-0}" = 1 ] && [ ! -x /usr/bin/chromium ]; then need_apt+=(chromium); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "== apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating the virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# Reinstall only when the declared dependencies or the panel's sources changed.
stamp="$VENV/.jupyter-mlops-stamp"
want=$( { echo "$PWD"; cat pyproject.toml; find labextension -path labextension/node_modules \
  -prune -o -path labextension/lib -prune -o -type f -print | sort | xargs cat; } | sha256sum )
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
  && "$VENV/bin/python" -c "import jupyter_mlops" 2>/dev/null; then
  echo "== dependencies are up to date ($VENV)"
else
  echo "== installing into $VENV (the first time takes a few minutes: torch is large)"
  "${PIP[@]}" install --upgrade pip
  # torch and torchvision must match; these two are known to work together.
  "$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null \
    || "${PIP[@]}" install "torch==2.14.1" "torchvision==0.29.1"
  # the build requirements of pyproject.toml (an editable install without build isolation)
  "${PIP[@]}" install hatchling "jupyter-builder>=1.2.0,<2" "hatch-nodejs-version>=0.3.2" \
    "hatch-jupyter-builder>=0.8.3" editables
  PATH="$VENV/bin:$PATH" "${PIP[@]}" install --no-build-isolation -e ".[test]"
  echo "$want" > "$stamp"
fi

# JupyterLab's news and update pop-ups ask the internet; keep them quiet on this server.
settings="$VENV/share/jupyter/lab/settings"
if [ ! -f "$settings/overrides.json" ]; then
  mkdir -p "$settings"
  echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' \
    > "$settings/overrides.json"
fi

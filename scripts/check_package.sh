#!/usr/bin/env bash
# The packaging check: what a pip user gets, tested as a pip user gets it.
#
#  1. sdist and wheel from a clean tree: the files git tracks (no development build of the
#     panel, no node_modules); the sdist carries the built panel, and the wheel is built from
#     the unpacked sdist with node *off* the PATH.
#  2. the wheel with [all] in a fresh venv, node still off the PATH: `jupyter server extension
#     list` and `jupyter labextension list` say OK; JupyterLab's browser check passes in
#     Chromium; `jupyter mlops start` serves JupyterLab, the REST API answers with the token.
#  3. the wheel with [worker] alone in a second fresh venv (no JupyterLab, Voila, torchvision
#     or scikit-learn): `jupyter mlops worker NOTEBOOK` runs a user's notebook as a worker with
#     a scoped worker token, the hub lists it online, a job launched on it finishes and stores
#     its model. Then everything stops.
#
# Everything lives in a temporary folder (removed at the end; MLOPS_KEEP=1 keeps it) and only
# talks to 127.0.0.1. pip's cache is used, so a second run installs from it.
#   PYTHON             the Python to make the venvs with (default: python3)
#   MLOPS_PACKAGE_REF  a git revision to build instead of the working tree's tracked files
#   CHROMIUM           the browser (default: /usr/bin/chromium); MLOPS_NO_BROWSER=1 skips it
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PYTHON=$(command -v "${PYTHON:-python3}") || { echo "check_package: no ${PYTHON:-python3}" >&2; exit 1; }
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
WORKER_NAME=package-check-worker

LOG=()  # the logs of what runs now: their last lines show when it fails
fail() {
  local f
  for f in "${LOG[@]}"; do
    [ -s "$f" ] || continue
    echo "---- last lines of ${f##*/}" >&2
    grep -v "^WARNING: Location 'file:" "$f" | tail -n 40 >&2
  done
  echo "check_package: FAILED: $*" >&2
  exit 1
}
command -v git >/dev/null || fail "git is needed"
command -v curl >/dev/null || fail "curl is needed"
git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1 || fail "$REPO is not a git checkout"
if [ "${MLOPS_NO_BROWSER:-0}" != 1 ] && [ ! -x "$CHROMIUM" ]; then
  fail "no Chromium at $CHROMIUM (apt-get install chromium, or MLOPS_NO_BROWSER=1 to skip)"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlops-package.XXXXXX")
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "${MLOPS_KEEP:-0}" = 1 ]; then
    echo "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$WORK"/{logs,dist,home}
LOGS=$WORK/logs

# Timings: `step NAME` starts a step (and ends the previous one); the table prints at the end.
TIMES=()
T0=$EPOCHREALTIME
step_name="" step_start=""
end_step() {
  if [ -n "$step_name" ]; then
    TIMES+=("$(awk -v a="$step_start" -v b="$EPOCHREALTIME" -v n="$step_name" \
      'BEGIN { printf "%7.1f s  %s", b - a, n }')")
    echo "   ${TIMES[-1]}"
  fi
  step_name=""
}
step() {
  end_step
  step_name=$1 step_start=$EPOCHREALTIME
  echo "== $1"
}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for SECONDS WHAT COMMAND...: run COMMAND until it succeeds; fail after SECONDS.
wait_for() {
  local limit=$1 what=$2 start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $((SECONDS - start)) -lt "$limit" ] || fail "$what: not after ${limit} s"
    sleep 1
  done
}

# A venv's pip, quiet, with the cache. --no-compile: byte-compiling all of torch and JupyterLab
# would double the install time here; Python compiles what it imports.
pip_in() { "$1/bin/python" -m pip --disable-pip-version-check -q "$2" --no-compile "${@:3}"; }

# A PATH without node: one folder of links to every command on this PATH except node's (node,
# npm, npx, yarn, ...) and except those of other Python environments. What the pip user runs
# must work with it; a wheel build that wanted node would fail.
mkdir -p "$WORK/path"
IFS=: read -ra path_dirs <<< "$PATH"
for dir in "${path_dirs[@]}"; do
  if [ ! -d "$dir" ] || [ -e "$dir/../pyvenv.cfg" ]; then continue; fi
  for f in "$dir"/*; do
    name=${f##*/}
    case $name in node | nodejs | npm | npx | yarn | yarnpkg | corepack | pnpm | jlpm) continue ;; esac
    if [ -x "$f" ] && [ ! -e "$WORK/path/$name" ]; then ln -s "$f" "$WORK/path/$name"; fi
  done
done
NO_NODE_PATH="$WORK/path"
if PATH="$NO_NODE_PATH" command -v node >/dev/null; then fail "node is still on the node-free PATH"; fi

# What a user's shell would have, minus anything pointing at another Jupyter or hub.
unset JUPYTER_PATH JUPYTER_CONFIG_PATH JUPYTER_MLOPS_URL JUPYTER_MLOPS_TOKEN \
  JUPYTER_MLOPS_WORKER_DIR MLOPS_VENV VIRTUAL_ENV PYTHONPATH
export JUPYTER_CONFIG_DIR="$WORK/home/config" JUPYTER_DATA_DIR="$WORK/home/data" \
  JUPYTER_RUNTIME_DIR="$WORK/home/runtime" IPYTHONDIR="$WORK/home/ipython" \
  JUPYTER_PLATFORM_DIRS=1 PIP_DISABLE_PIP_VERSION_CHECK=1
ALLOW_ROOT=()
[ "$(id -u)" != 0 ] || ALLOW_ROOT=(--allow-root)

# ---------------------------------------------------------------------------------------------
step "clean tree (tracked files only)"
mkdir -p "$WORK/src"
if [ -n "${MLOPS_PACKAGE_REF:-}" ]; then
  git -C "$REPO" archive --format=tar "$MLOPS_PACKAGE_REF" | tar -x -C "$WORK/src"
  echo "   $MLOPS_PACKAGE_REF ($(git -C "$REPO" rev-parse --short "$MLOPS_PACKAGE_REF"))"
else
  # the working tree's tracked files, edits included, without untracked or ignored ones
  git -C "$REPO" ls-files -z | while IFS= read -r -d '' f; do
    if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
  done | tar --null --no-recursion -T - -cf - | tar -x -C "$WORK/src"
  echo "   working tree at $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff \
    --quiet HEAD 2>/dev/null || echo ', with uncommitted edits')"
fi
[ ! -e "$WORK/src/jupyter_mlops/labextension" ] || fail "a built panel is tracked by git"
[ ! -e "$WORK/src/labextension/node_modules" ] || fail "node_modules is tracked by git"

step "tools venv (build, playwright)"
"$PYTHON" -m venv "$WORK/tools"
TOOLS=(build)
[ "${MLOPS_NO_BROWSER:-0}" = 1 ] || TOOLS+=(playwright)
LOG=("$LOGS/pip-tools.log")
pip_in "$WORK/tools" install "${TOOLS[@]}" > "$LOGS/pip-tools.log" 2>&1 \
  || fail "pip install ${TOOLS[*]} failed"

step "sdist (builds the panel with node: jlpm install + build:prod)"
# yarn's global cache makes a second run's install quick
LOG=("$LOGS/build-sdist.log")
YARN_ENABLE_GLOBAL_CACHE=true "$WORK/tools/bin/python" -m build --sdist --outdir "$WORK/dist" \
  "$WORK/src" > "$LOGS/build-sdist.log" 2>&1 || fail "the sdist build failed (only files git tracks are built)"
SDIST=$(ls "$WORK"/dist/*.tar.gz)
echo "   $(basename "$SDIST") ($(du -h "$SDIST" | cut -f1))"
sdist_files=$(tar -tzf "$SDIST")
for f in jupyter_mlops/labextension/package.json jupyter_mlops/labextension/static/style.js \
  jupyter_mlops/examples/train_cifar.ipynb jupyter_mlops/examples/demo_voila.ipynb \
  jupyter_mlops/examples/sample_conf.json labextension/package.json labextension/src/index.ts \
  LICENSE jupyter-config/jupyter_server_config.d/jupyter_mlops.json; do
  grep -q "^[^/]*/$f\$" <<< "$sdist_files" || fail "the sdist lacks $f"
done
if grep -E '/(node_modules|lib|\.yarn)/' <<< "$sdist_files" | head -1 | grep -q .; then
  fail "the sdist carries build leftovers: $(grep -E '/(node_modules|lib|\.yarn)/' \
    <<< "$sdist_files" | head -3 | tr '\n' ' ')"
fi

step "wheel from the sdist, node off the PATH"
mkdir -p "$WORK/unpacked"
tar -xzf "$SDIST" -C "$WORK/unpacked"
LOG=("$LOGS/build-wheel.log")
PATH="$NO_NODE_PATH" "$WORK/tools/bin/python" -m build --wheel --outdir "$WORK/dist" \
  "$WORK"/unpacked/* > "$LOGS/build-wheel.log" 2>&1 || fail "the wheel build failed"
WHEEL=$(ls "$WORK"/dist/*.whl)
echo "   $(basename "$WHEEL") ($(du -h "$WHEEL" | cut -f1))"
"$WORK/tools/bin/python" - "$WHEEL" <<'EOF' || fail "the wheel's contents (above)"
import json, sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
data = next(n.split("/")[0] for n in names if ".data/" in n)
ext = f"{data}/data/share/jupyter/labextensions/jupyter-mlops/"
need = [
    ext + "package.json", ext + "install.json", ext + "static/style.js",
    f"{data}/data/etc/jupyter/jupyter_server_config.d/jupyter_mlops.json",
    "jupyter_mlops/examples/train_cifar.ipynb", "jupyter_mlops/examples/demo_voila.ipynb",
    "jupyter_mlops/examples/sample_conf.json", "jupyter_mlops/serverext/__init__.py",
]
problems = [f"missing {n}" for n in need if n not in names]
if not any(n.startswith(ext + "static/remoteEntry.") for n in names):
    problems.append("no remoteEntry.*.js: the panel is not built")
# a development build (jlpm build) has source maps of unminified code; a release has none
problems += [f"development build file {n}" for n in names if n.startswith(ext) and n.endswith(".map")]
problems += [f"source tree file {n}" for n in names if n.startswith(("labextension/", "tests/"))]
meta = json.loads(zipfile.ZipFile(sys.argv[1]).read(ext + "package.json"))
if not meta.get("jupyterlab", {}).get("_build"):
    problems.append("the panel's package.json has no _build: not a built extension")
for p in problems:
    print("  ", p)
sys.exit(1 if problems else 0)
EOF

# venv B installs in the background meanwhile (a new session: the cleanup stops all of it)
WRK=$WORK/venv-worker
# shellcheck disable=SC2016  # expanded by the inner shell
setsid "$BASH" -c 'set -e; t0=$EPOCHREALTIME; "$1" -m venv "$2"
  PATH="$3" "$2/bin/python" -m pip --disable-pip-version-check -q install --no-compile "$4"
  awk -v a="$t0" -v b="$EPOCHREALTIME" "BEGIN { printf \"%.1f\", b - a }" > "$5"' \
  install-b "$PYTHON" "$WRK" "$NO_NODE_PATH" "${WHEEL}[worker]" "$WORK/install-b.seconds" \
  > "$LOGS/pip-worker.log" 2>&1 &
INSTALL_B=$!
PIDS+=("$INSTALL_B")

# ---------------------------------------------------------------------------------------------
step "venv A: pip install \"jupyter_mlops[all]\" (node off the PATH)"
ALL=$WORK/venv-all
"$PYTHON" -m venv "$ALL"
LOG=("$LOGS/pip-all.log")
PATH="$NO_NODE_PATH" pip_in "$ALL" install "${WHEEL}[all]" > "$LOGS/pip-all.log" 2>&1 \
  || fail "pip install [all] failed"
export PATH="$ALL/bin:$NO_NODE_PATH"
[ "$(command -v jupyter)" = "$ALL/bin/jupyter" ] || fail "jupyter is not venv A's"
echo "   $(jupyter mlops --version), JupyterLab $(jupyter lab --version)"

step "jupyter server extension list / jupyter labextension list"
LOG=("$LOGS/server-extensions.log")
jupyter server extension list 2>&1 | sed 's/\x1b\[[0-9;]*m//g' > "${LOG[0]}"
grep -Eq '^[[:space:]]*jupyter_mlops enabled' "$LOGS/server-extensions.log" \
  || fail "jupyter_mlops is not an enabled server extension"
grep -Eq '^[[:space:]]*jupyter_mlops .* OK' "$LOGS/server-extensions.log" \
  || fail "the server extension does not validate"
grep -E 'jupyter_mlops' "$LOGS/server-extensions.log" | sed 's/^ */   /'
LOG=("$LOGS/labextensions.log")
jupyter labextension list 2>&1 | sed 's/\x1b\[[0-9;]*m//g' > "${LOG[0]}"
line=$(grep -E '^[[:space:]]*jupyter-mlops v' "$LOGS/labextensions.log" || true)
[ -n "$line" ] || fail "jupyter-mlops is not a listed lab extension"
grep -Eq 'enabled.*OK' <<< "$line" || fail "the lab extension is not enabled and OK: $line"
# the extension must be venv A's prebuilt copy, not one from elsewhere on this machine
where=$(awk '/^[[:space:]]*\//{dir=$1} /^[[:space:]]*jupyter-mlops v/{print dir}' "$LOGS/labextensions.log")
[ "$where" = "$ALL/share/jupyter/labextensions" ] || fail "jupyter-mlops is listed from $where"
echo "   ${line#"${line%%[![:space:]]*}"}"

if [ "${MLOPS_NO_BROWSER:-0}" != 1 ]; then
  step "JupyterLab browser check (Chromium)"
  # `python -m jupyterlab.browser_check` itself drives the browser with node: it runs `npm
  # install playwright` and `npx playwright install chromium` (a browser download from
  # Playwright's servers, not a package index) and needs node on the PATH. Here the very same
  # BrowserApp runs (a JupyterLab that fails on any logged server error, and pages that
  # collect every console error into #browserTest), only its browser step is the same checks
  # made with Python Playwright on the system Chromium; node stays off the PATH.
  cat > "$WORK/browser_check.py" <<'EOF'
"""jupyterlab.browser_check, with its browser step on Python Playwright (see check_package.sh)."""
import os
import sys

import jupyterlab.browser_check as check


async def run_browser(url):
    await check.run_async_process([os.environ["CHECK_TOOLS_PY"], os.environ["CHECK_PAGE_PY"], url])


check.run_browser = run_browser


# as under `python -m jupyterlab.browser_check`: the app is the extension of module __main__
class BrowserApp(check.BrowserApp):
    name = __name__


def _jupyter_server_extension_points():
    return [{"module": __name__, "app": BrowserApp}]


if __name__ == "__main__":
    BrowserApp.launch_instance()
EOF
  cat > "$WORK/browser_page.py" <<'EOF'
"""What jupyterlab's browser-test.js checks, plus: the MLOps plugin is active, its panel opens."""
import json
import os
import sys

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=os.environ["CHROMIUM"], args=ARGS)
    page = browser.new_page()
    crashes = []
    page.on("pageerror", lambda error: crashes.append(str(error)))
    page.goto(sys.argv[1])
    page.locator("#jupyter-config-data").wait_for(state="attached", timeout=100_000)
    page.wait_for_selector("#main", timeout=100_000)
    element = page.wait_for_selector("#browserTest", state="attached", timeout=100_000)
    page.wait_for_selector(".completed", state="attached", timeout=100_000)
    # the plugin put its tab in the left bar; a click opens the panel
    tab = page.locator('.jp-SideBar [data-id="jp-mlops-panel"]')
    active = tab.count() == 1
    if active:
        if not page.locator("#jp-mlops-panel").is_visible():
            tab.click()
        page.wait_for_selector("#jp-mlops-panel", state="visible", timeout=30_000)
    page.wait_for_timeout(2000)  # the panel's first requests and its websocket
    page.screenshot(path=os.environ["CHECK_SCREENSHOT"])
    errors = json.loads(element.text_content() or "[]")
    browser.close()
problems = [f"console error: {e.get('message', e)}" for e in errors]
problems += [f"page error: {c}" for c in crashes]
if not active:
    problems.append("no MLOps tab in the left bar: the jupyter-mlops plugin did not activate")
for problem in problems:
    print(problem, file=sys.stderr)
print("browser check: " + ("FAILED" if problems else "JupyterLab and the MLOps panel load, no errors"))
sys.exit(1 if problems else 0)
EOF
  mkdir -p "$WORK/browser-root"
  port=$(free_port)
  LOG=("$LOGS/browser-check.log")
  CHECK_TOOLS_PY="$WORK/tools/bin/python" CHECK_PAGE_PY="$WORK/browser_page.py" \
    CHECK_SCREENSHOT="$WORK/browser-check.png" CHROMIUM="$CHROMIUM" \
    timeout 300 python "$WORK/browser_check.py" --ServerApp.ip=127.0.0.1 \
    --ServerApp.port="$port" --ServerApp.port_retries=0 \
    --ServerApp.root_dir="$WORK/browser-root" --MLOpsApp.root_dir="$WORK/browser-store" \
    "${ALLOW_ROOT[@]}" > "$LOGS/browser-check.log" 2>&1 \
    || fail "the browser check failed"
  grep -E '^browser check:' "$LOGS/browser-check.log" | sed 's/^/   /'
  fi

step "jupyter mlops start (a server, 127.0.0.1, a random port, a token)"
PORT=$(free_port)
TOKEN=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')
BASE="http://127.0.0.1:$PORT"
mkdir -p "$WORK/lab"
LOG=("$LOGS/server.log")
(cd "$WORK/lab" && exec setsid jupyter mlops start --no-worker --no-browser --port "$PORT" \
  --token "$TOKEN" --root "$WORK/store") > "$LOGS/server.log" 2>&1 &
PIDS+=($!)
api() { curl -fsS --max-time 30 -H "Authorization: token $TOKEN" "$BASE/$1"; }
wait_for 120 "the server at $BASE" api api/status
for f in train_cifar.ipynb demo_voila.ipynb sample_conf.json; do
  [ -f "$WORK/lab/$f" ] || fail "jupyter mlops start did not copy $f into its folder"
done
echo "   $BASE up; examples copied into its folder"

step "REST API with the token"
api mlops/api/workers | "$PYTHON" -c 'import json, sys; assert json.load(sys.stdin)["workers"] == []' \
  || fail "GET /mlops/api/workers"
api mlops/api/openapi.json | "$PYTHON" -c 'import json, sys; assert json.load(sys.stdin)["paths"]' \
  || fail "GET /mlops/api/openapi.json"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$BASE/mlops/api/workers")
[ "$code" = 403 ] || fail "GET /mlops/api/workers without a token answered $code, not 403"
api lab | grep -q 'jupyter-mlops' || fail "JupyterLab's page does not load the panel"
echo "   /mlops/api/workers, /mlops/api/openapi.json: 200; no token: 403"
step "the Voila demo page renders"
curl -fsS --max-time 120 -H "Authorization: token $TOKEN" \
  "$BASE/voila/render/demo_voila.ipynb" > "$WORK/demo.html" || fail "GET the demo page"
grep -q 'application/vnd.jupyter.widget-view+json' "$WORK/demo.html" \
  || fail "the demo page has no widgets"
# a scoped worker token, as a remote worker gets one (README, Remote workers)
WORKER_TOKEN=$(jupyter mlops tokens create "$WORKER_NAME" --scope worker --url "$BASE" \
  --token "$TOKEN" | sed -n 's/^ *export JUPYTER_MLOPS_TOKEN=//p')
[ -n "$WORKER_TOKEN" ] || fail "jupyter mlops tokens create printed no token"

# ---------------------------------------------------------------------------------------------
step "venv B: pip install \"jupyter_mlops[worker]\" alone (wait for it)"
LOG=("$LOGS/pip-worker.log")
wait "$INSTALL_B" || fail "pip install [worker] failed"
echo "   the install itself took $(cat "$WORK/install-b.seconds") s (in the background, from the wheel step on)"
installed=$("$WRK/bin/python" -m pip list --format=json 2>/dev/null | "$PYTHON" -c \
  'import json, re, sys; print("\n".join(re.sub(r"[-_.]+", "-", p["name"]).lower() for p in json.load(sys.stdin)))')
for unwanted in jupyterlab voila torchvision scikit-learn notebook; do
  ! grep -qx "$unwanted" <<< "$installed" || fail "[worker] pulled $unwanted"
done
for wanted in torch onnx onnxscript jupyter-mlops; do
  grep -qx "$wanted" <<< "$installed" || fail "[worker] lacks $wanted"
done
echo "   $(wc -l <<< "$installed") packages; none of jupyterlab, voila, torchvision, scikit-learn"

step "jupyter mlops worker NOTEBOOK (venv B, worker token) + a job on it"
mkdir -p "$WORK/remote"
"$WRK/bin/python" - "$WORK/remote/my_worker.ipynb" "$WORKER_NAME" <<'EOF'
import sys

import nbformat

train = '''import torch
from torch import nn

import jupyter_mlops
from jupyter_mlops.kernel_client import start_worker


def train(params, callbacks):
    torch.manual_seed(0)
    x = torch.randn(64, 3, 4, 4)  # tiny images: a model file's input is [C, H, W]
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    model = jupyter_mlops.watch(nn.Sequential(nn.Flatten(), nn.Linear(48, 2)))
    optimizer = torch.optim.SGD(model.parameters(), lr=params["lr"])
    for epoch in range(1, params["epochs"] + 1):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        jupyter_mlops.log(step=epoch, train_loss=loss.item())
    accuracy = float((model(x).argmax(1) == y).float().mean())
    return model, {"test_accuracy": accuracy}
'''
nb = nbformat.v4.new_notebook()
nb.cells = [
    nbformat.v4.new_code_cell(train),
    nbformat.v4.new_code_cell(
        f"worker = start_worker(train, defaults={{'lr': 0.1, 'epochs': 3}}, name={sys.argv[2]!r})"
    ),
]
nbformat.write(nb, sys.argv[1])
EOF
LOG=("$LOGS/worker.log" "$LOGS/server.log")
(cd "$WORK/remote" && PATH="$WRK/bin:$NO_NODE_PATH" JUPYTER_MLOPS_URL="$BASE/" \
  JUPYTER_MLOPS_TOKEN="$WORKER_TOKEN" JUPYTER_MLOPS_WORKER_DIR="$WORK/remote/state" \
  exec setsid "$WRK/bin/jupyter" mlops worker my_worker.ipynb --interval 1) \
  > "$LOGS/worker.log" 2>&1 &
WORKER_PID=$!
PIDS+=("$WORKER_PID")
online() {
  api mlops/api/workers | "$PYTHON" -c "import json, sys
w = [w for w in json.load(sys.stdin)['workers'] if w['name'] == '$WORKER_NAME' and w['online']]
sys.exit(0 if w else 1)"
}
wait_for 180 "the worker $WORKER_NAME online in the hub" online
echo "   $WORKER_NAME is online"
echo '{"lr": [0.05, 0.2], "epochs": 2}' > "$WORK/conf.json"
LOG=("$LOGS/launch.log" "$LOGS/worker.log")
jupyter mlops launch "$WORK/conf.json" --worker "$WORKER_NAME" --url "$BASE" --token "$TOKEN" \
  > "$LOGS/launch.log" 2>&1 || fail "the job on $WORKER_NAME did not finish"
models=$(jupyter mlops models --json --url "$BASE" --token "$TOKEN" \
  | "$PYTHON" -c 'import json, sys; print(len(json.load(sys.stdin)))')
[ "$models" = 2 ] || fail "expected the job's 2 models in the store, found $models"
grep -E '^best:' "$LOGS/launch.log" | sed 's/^/   /' || true
echo "   a job of 2 trials finished on $WORKER_NAME; 2 models stored"

step "stop the worker (SIGTERM, as Ctrl-C) and the server"
# SIGTERM rather than SIGINT: when this check runs in the background (scripts/test.sh runs it
# beside pytest), the shell starts it with SIGINT ignored, and Python then ignores Ctrl-C too.
# The command treats both alike (jupyter_mlops/cli/notebook.py).
kill -TERM "$WORKER_PID"
wait_stopped() { ! kill -0 "$1" 2>/dev/null; }
wait_for 60 "the worker to stop on SIGTERM" wait_stopped "$WORKER_PID"
grep -q "stopped" "$LOGS/worker.log" || fail "the worker did not say it stopped"
end_step

echo
echo "package check passed: $(basename "$WHEEL")"
for t in "${TIMES[@]}"; do echo "$t"; done
awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%7.1f s  total\n", b - a }'

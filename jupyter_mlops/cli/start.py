"""``jupyter mlops start``, ``examples`` and ``demo``: the product in one command.

The tutorial notebook, the demo notebook and the sample grid ship inside the package
(``jupyter_mlops/examples/``); these commands put them where the user wants them.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import shutil
import sys
import webbrowser
from importlib.resources import files
from pathlib import Path

TUTORIAL = "train_cifar.ipynb"
DEMO = "demo_voila.ipynb"
EXAMPLES = (TUTORIAL, DEMO, "sample_conf.json")


def examples_dir() -> Path:
    """Where the package keeps its examples."""
    return Path(str(files("jupyter_mlops") / "examples"))


def copy_examples(dest: Path, names: tuple[str, ...] = EXAMPLES, force: bool = False) -> list[str]:
    """Copy the examples into ``dest`` (never over an existing file unless ``force``);
    return the names copied."""
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in names:
        target = dest / name
        if target.exists() and not force:
            continue
        shutil.copyfile(examples_dir() / name, target)
        copied.append(name)
    return copied


def examples(args: argparse.Namespace) -> int:
    dest = Path(args.dir).expanduser()
    copied = copy_examples(dest, force=args.force)
    kept = [n for n in EXAMPLES if n not in copied]
    for name in copied:
        print(f"copied {dest / name}")
    for name in kept:
        print(f"kept {dest / name} (exists; --force replaces it)")
    print(f"next: cd {dest} && jupyter mlops start")
    return 0


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def start(args: argparse.Namespace) -> int:
    """Copy the examples into DIR if missing, then run JupyterLab there with the tutorial
    notebook as a worker in one of its kernels; print the URLs of the lab and the demo."""
    if not _installed("jupyterlab"):
        print(
            'error: JupyterLab is not installed: pip install "jupyter_mlops[all]"', file=sys.stderr
        )
        return 1
    folder = Path(args.dir).expanduser().resolve()
    for name in copy_examples(folder):
        print(f"copied {name} into {folder}")
    token = args.token or os.environ.get("MLOPS_TOKEN") or secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={folder}",
        f"--port={args.port}",
        f"--ip={args.ip}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    worker = not args.no_worker
    if worker and not (_installed("torch") and _installed("torchvision")):
        print('note: no worker is started (torch is missing): pip install "jupyter_mlops[all]"')
        worker = False
    if worker:
        command.append(f"--MLOpsApp.autostart_notebooks={TUTORIAL}")
    if args.root:
        command.append(f"--MLOpsApp.root_dir={Path(args.root).expanduser().resolve()}")
    if args.no_browser:
        command.append("--no-browser")
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")
    base = f"http://{args.ip}:{args.port}"
    print(f"\n  JupyterLab (open the MLOps panel in the left bar):\n      {base}/lab?token={token}")
    if _installed("voila"):
        print(f"  Demo classifier (Voila):\n      {base}/voila/render/{DEMO}?token={token}")
    else:
        print('  (the demo page needs Voila: pip install "jupyter_mlops[demo]")')
    if worker:
        print(f"  The worker notebook {TUTORIAL} is starting in a kernel of this server.")
    print("  Stop with Ctrl-C.\n", flush=True)
    os.chdir(folder)
    os.execv(sys.executable, command)
    return 0  # not reached


def demo(args: argparse.Namespace) -> int:
    """Put the demo notebook into the hub's folder (when it runs here) and open its page."""
    from jupyter_mlops.client import find_hub, running_servers

    hub = find_hub(args.url, args.token)
    server = next(
        (s for s in running_servers() if s["url"].rstrip("/") == hub.url.rstrip("/")), None
    )
    if server is not None and server.get("root_dir"):
        copied = copy_examples(Path(server["root_dir"]), (DEMO,))
        if copied:
            print(f"copied {DEMO} into {server['root_dir']}")
    url = f"{hub.url}voila/render/{DEMO}"
    print(f"demo classifier: {url}")
    if not args.no_browser:
        webbrowser.open(f"{url}?token={hub.token}" if hub.token else url)
    return 0

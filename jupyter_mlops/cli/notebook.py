"""``jupyter mlops worker NOTEBOOK``: a notebook as a headless worker, like ``clearml-agent``.

The notebook's code cells run in a kernel (nbclient) that then stays alive: the worker the
notebook started (``start_worker(...)``) trains in that kernel's background thread while this
command prints its status. With ``--ray [ADDRESS]`` that worker runs its trials on a Ray
cluster (:mod:`.ray_option`). Ctrl-C (or SIGTERM) stops the worker cleanly (its running trial
goes back to the queue) and shuts the kernel down.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from jupyter_mlops.cli import ray_option, show
from jupyter_mlops.client import find_hub
from jupyter_mlops.kernel_client.hub_client import TOKEN_ENV, URL_ENV

STATUS_CODE = (
    "import json as _mlops_json\n"
    "from jupyter_mlops.kernel_client import current_worker as _mlops_current\n"
    "_mlops_w = _mlops_current()\n"
    "print(_mlops_json.dumps(_mlops_w.status() if _mlops_w else None, default=str))\n"
)
STOP_CODE = "from jupyter_mlops.kernel_client import stop_worker as _s\nprint(_s(timeout=30))\n"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stdout_of(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")


def status_line(status: dict[str, Any]) -> tuple[str, str]:
    """The line shown for a worker's status, and the part whose change prints a new line."""
    head = f"worker {status['name']}: {status['connection']}"
    if status.get("job") is None:
        return f"{head}, idle, {status.get('jobs_done', 0)} job(s) done", head + " idle"
    where = f"{head}, job {status['job']} trial {status.get('trial') or '-'}"
    epoch, batch = status.get("epoch"), status.get("batch")
    text = where
    if epoch and epoch[1]:
        text += f" epoch {epoch[0]}/{epoch[1]}"
    if batch and batch[1]:
        text += f" batch {batch[0]}/{batch[1]}"
    loss = (status.get("metrics") or {}).get("train_loss")
    if isinstance(loss, (int, float)):
        text += f" loss {loss:.4g}"
    return text, f"{where} {epoch}"


def run(args: argparse.Namespace) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    path = Path(args.notebook).expanduser().resolve()
    if not path.is_file():
        print(f"error: no notebook at {path}", file=sys.stderr)
        return 1
    if getattr(args, "trial_resources", None) is not None and getattr(args, "ray", None) is None:
        print("error: --trial-resources needs --ray [ADDRESS]", file=sys.stderr)
        return 2
    hub = find_hub(args.url, args.token)
    # the kernel finds the hub as a remote notebook does: JUPYTER_MLOPS_URL/TOKEN
    os.environ[URL_ENV] = hub.url
    if hub.token:
        os.environ[TOKEN_ENV] = hub.token
    os.environ.setdefault("JPY_SESSION_NAME", str(path))
    nb = nbformat.read(path, as_version=4)
    kernel = args.kernel or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    client = NotebookClient(
        nb, timeout=None, kernel_name=kernel, resources={"metadata": {"path": str(path.parent)}}
    )
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    previous = signal.signal(signal.SIGTERM, _interrupt)
    print(f"running {path.name} in a {kernel} kernel (hub {hub.url})", flush=True)
    try:
        with client.setup_kernel():
            try:
                if getattr(args, "ray", None) is not None:
                    _use_ray(client, nb, args.ray, args.trial_resources)
                for done, index in enumerate(code, 1):
                    first = nb.cells[index].source.strip().splitlines()[:1]
                    print(f"cell {done}/{len(code)}: {first[0][:70] if first else ''}", flush=True)
                    client.execute_cell(nb.cells[index], index)
                    if args.verbose:
                        sys.stdout.write(_stdout_of(nb.cells[index]))
                return _watch(client, nb, args.interval)
            except KeyboardInterrupt:
                print("\nstopping the worker ...", flush=True)
                _stop(client, nb)
                print("stopped", flush=True)
                return 130
            except CellExecutionError as exc:
                print(f"error: a cell of {path.name} failed:\n{exc}", file=sys.stderr)
                return 1
            except DeadKernelError:
                print(f"error: the kernel running {path.name} died", file=sys.stderr)
                return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def _use_ray(client: Any, nb: Any, address: str, resources: dict[str, float] | None) -> None:
    """Make the kernel's ``start_worker`` run the trials on the Ray cluster at ``address``."""
    where = "a local Ray" if address == ray_option.LOCAL else f"the Ray cluster at {address}"
    each = f", each with {json.dumps(resources)}" if resources else ""
    print(f"the worker's trials run on {where}{each}", flush=True)
    _execute(client, nb, ray_option.kernel_code(address, resources))


def _execute(client: Any, nb: Any, source: str) -> str:
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)
    try:
        client.execute_cell(cell, len(nb.cells) - 1, store_history=False)
    finally:
        nb.cells.pop()
    return _stdout_of(cell)


def _status(client: Any, nb: Any) -> dict[str, Any] | None:
    text = _execute(client, nb, STATUS_CODE).strip().splitlines()
    return json.loads(text[-1]) if text else None


def _watch(client: Any, nb: Any, interval: float) -> int:
    status = _status(client, nb)
    if status is None:
        print(
            "error: the notebook started no worker: it must call "
            "start_worker(train_fn, defaults=..., name=...)",
            file=sys.stderr,
        )
        return 1
    print(f"worker {status['name']} is running; Ctrl-C stops it", flush=True)
    live = show.Live()
    while True:
        text, key = status_line(status)
        live.show(text, key)
        if status["connection"] == "stopped":
            live.done()
            print(f"worker {status['name']} stopped", flush=True)
            return 0
        time.sleep(interval)
        found = _status(client, nb)
        if found is None:
            live.done()
            print("the worker stopped", flush=True)
            return 0
        status = found


def _stop(client: Any, nb: Any) -> None:
    """Stop the worker in the kernel (its trial goes back to the queue); ignore a dead one."""
    try:
        client.timeout = 60
        _execute(client, nb, STOP_CODE)
    except Exception as exc:  # the kernel may be gone already; it is shut down next anyway
        print(f"(could not stop the worker cleanly: {exc})", file=sys.stderr)

"""The ``%mlops`` line magic: connect to the hub, start, inspect and stop the worker.

::

    %mlops connect [URL]                   find (no URL) or set the hub and check it; the
                                           token comes from JUPYTER_MLOPS_TOKEN or a
                                           hidden prompt, never from the cell
    %mlops worker RUN_TRIAL --defaults CONF_OBJ --name NOTEBOOK_ID
          [--ray [ADDRESS] [--trial-resources '{"GPU": 1}']]
                                           the trials run on a Ray cluster (docs/SCALING.md)
    %mlops status                          link, current job and trial, progress
    %mlops stop                            stop the worker cleanly
    %mlops panel                           workers, launcher, jobs, models and deploy buttons
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import shlex
import sys
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from jupyter_mlops.kernel_client.hub_client import TOKEN_ENV, HubError, HubNotFound
from jupyter_mlops.kernel_client.worker import registry

log = logging.getLogger(__name__)

USAGE = __doc__.split("::", 1)[1].strip("\n")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would exit the kernel
        raise UsageError(f"{message}\nusage:\n{USAGE}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%mlops", add_help=False)
    sub = parser.add_subparsers(dest="command")
    connect = sub.add_parser("connect", add_help=False)
    connect.add_argument("url", nargs="?")
    connect.add_argument("--token", default=None)
    worker = sub.add_parser("worker", add_help=False)
    worker.add_argument("function")
    worker.add_argument("--defaults", required=True)
    worker.add_argument("--name", required=True)
    worker.add_argument("--log-every", type=int, default=1)
    # run the trials on a Ray cluster: "--ray" (a local Ray), "--ray auto", "--ray HOST:PORT"
    worker.add_argument("--ray", nargs="?", const="local", default=None)
    worker.add_argument("--trial-resources", default=None)  # JSON, e.g. '{"GPU": 1}'
    sub.add_parser("status", add_help=False)
    sub.add_parser("stop", add_help=False)
    sub.add_parser("panel", add_help=False)
    sub.add_parser("help", add_help=False)
    return parser


TOKEN_IN_CELL = (
    "jupyter-mlops: warning: --token leaves the token in this notebook's source; set "
    f"{TOKEN_ENV} instead (a Colab secret, or the shell that starts Jupyter), or leave it out "
    "and %mlops connect asks for it without showing it"
)


def connect_token(url: str | None, given: str | None) -> str | None:
    """The token for ``%mlops connect``: ``--token`` (with a warning), else None when the
    environment or the server that started this kernel provides it, else a hidden prompt."""
    if given is not None:
        print(TOKEN_IN_CELL, file=sys.stderr)
        return given
    if not url or os.environ.get(TOKEN_ENV):
        return None  # discover() reads JUPYTER_MLOPS_TOKEN, or the parent server's info
    try:
        return getpass.getpass(f"jupyter-mlops token for {url} (hidden; Enter for none): ")
    except Exception as exc:  # no stdin here (a headless run): say what to do instead
        raise UsageError(
            f"no token for {url}: set {TOKEN_ENV} (a Colab secret, or in the shell that starts "
            f"Jupyter), or run this cell where input is possible ({type(exc).__name__})"
        ) from None


def format_status(status: dict[str, Any] | None, hub_url: str | None) -> str:
    """Human-readable status lines for ``%mlops status``."""
    if status is None:
        where = f"hub {hub_url}" if hub_url else "no hub connected"
        return f"jupyter-mlops: no worker running ({where}). Start one with start_worker(...)."
    lines = [
        f"worker   {status['name']} (id {status['worker_id']}) on {status['device']}",
        f"hub      {status['hub']}: {status['connection']}"
        + (f" ({status['last_error']})" if status["last_error"] else ""),
    ]
    if status["job"] is None:
        lines.append(f"job      idle ({status['jobs_done']} job(s) done)")
    else:
        lines.append(f"job      {status['job']} (assigned {status['trials']} trial(s))")
        attempt = status.get("attempt")
        lines.append(f"trial    {status['trial']}" + (f" (attempt {attempt})" if attempt else ""))
        if status["epoch"]:
            epoch, epochs = status["epoch"]
            batch, batches = status["batch"]
            lines.append(f"progress epoch {epoch}/{epochs}, batch {batch}/{batches}")
        if status["metrics"]:
            shown = ", ".join(f"{k}={v:.4g}" for k, v in status["metrics"].items())
            lines.append(f"metrics  {shown}")
    for upload in status.get("uploads") or []:
        lines.append(
            f"upload   model of trial {upload['trial_id']} waiting to upload since "
            f"{upload['since']} ({upload['tries']} tries; {upload['last_error']}); "
            f"file {upload['path']}"
        )
    lines.append(f"outbox   {status['unacked_events']} event(s) not yet acked by the hub")
    lines += _outbox_warnings(status.get("outbox") or {})
    lines.append(f"logs     {status['log_dir']}")
    return "\n".join(lines)


def _outbox_warnings(outbox: dict[str, Any]) -> list[str]:
    """Lines that say the outbox is filling up, is full, or cannot be written."""
    if not outbox:
        return []
    size = f"{outbox['bytes'] / (1 << 20):.1f} of {outbox['limit_bytes'] / (1 << 20):.0f} MiB"
    lines = []
    if outbox.get("full"):
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(outbox["not_sent"].items()))
        lines.append(
            f"WARNING  the outbox is full ({size}): the hub has not acknowledged events for a "
            "while; log lines, metrics and progress are counted, not queued "
            f"({counts or 'none yet'}); the local job log keeps every line"
        )
    elif outbox.get("warning"):
        lines.append(f"WARNING  the outbox holds {size} of events the hub has not acknowledged")
    if outbox.get("disk_error"):
        lines.append(f"WARNING  the outbox file cannot be written: {outbox['disk_error']}")
    return lines


@magics_class
class MLOpsMagics(Magics):
    """``%mlops`` subcommands."""

    @line_magic
    def mlops(self, line: str) -> None:
        """Connect to the jupyter-mlops hub and control this notebook's worker."""
        args = _parser().parse_args(shlex.split(line))
        command = args.command or "status"
        if command == "help":
            print(USAGE)
        elif command == "connect":
            try:
                hub = registry.connect(args.url, connect_token(args.url, args.token))
            except HubError as exc:
                raise UsageError(str(exc)) from None
            print(f"jupyter-mlops: connected to the hub at {hub.url} ({hub.source})")
        elif command == "worker":
            self._start_worker(args)
        elif command == "status":
            worker = registry.current_worker()
            current = registry.current_hub()
            url = current.url if current else None
            print(format_status(worker.status() if worker else None, url))
        elif command == "panel":
            from jupyter_mlops.kernel_client.panel import panel

            known = registry.current_hub()
            try:
                panel(known.url if known else None, known.token if known else None, display=True)
            except HubError as exc:
                raise UsageError(str(exc)) from None
        elif command == "stop":
            if registry.stop_worker():
                print("jupyter-mlops: worker stopped")
            else:
                print("jupyter-mlops: no worker was running")

    def _start_worker(self, args: argparse.Namespace) -> None:
        namespace = self.shell.user_ns if self.shell is not None else {}
        missing = [n for n in (args.function, args.defaults) if n not in namespace]
        if missing:
            raise UsageError(f"not defined in this notebook: {', '.join(missing)}")
        name = namespace.get(args.name, args.name)
        options: dict[str, Any] = {}
        if args.ray is not None:
            options["executor"] = _ray_executor(args.ray, args.trial_resources)
        try:
            worker = registry.start_worker(
                namespace[args.function],
                namespace[args.defaults],
                str(name),
                log_every=args.log_every,
                **options,
            )
        except HubError as exc:
            raise UsageError(str(exc)) from None
        namespace["mlops_worker"] = worker
        print(f"jupyter-mlops: worker {worker.name} started ({worker.connection.state})")


def _ray_executor(address: str, resources: str | None) -> Any:
    """The RayExecutor of ``%mlops worker ... --ray [ADDRESS] [--trial-resources JSON]``."""
    from jupyter_mlops.kernel_client.worker.ray_executor import RayExecutor

    try:
        per_trial = json.loads(resources) if resources else None
    except ValueError:
        raise UsageError("--trial-resources must be JSON, e.g. '{\"GPU\": 1}'") from None
    if per_trial is not None and not (
        isinstance(per_trial, dict)
        and all(isinstance(v, (int, float)) and v >= 0 for v in per_trial.values())
    ):
        raise UsageError('--trial-resources must map resource names to amounts: {"GPU": 1}')
    try:
        return RayExecutor(None if address == "local" else address, per_trial)
    except ImportError as exc:
        raise UsageError(str(exc)) from None


def register_magics(ipython: Any) -> None:
    """Register ``%mlops`` and say whether a hub was found (called by %load_ext)."""
    ipython.register_magics(MLOpsMagics)
    if registry.current_hub() is not None:
        return
    try:
        hub = registry.connect()
        print(
            f"jupyter-mlops: hub found at {hub.url} ({hub.source}); start a worker with "
            "start_worker(run_trial, defaults=CONF_OBJ, name=NOTEBOOK_ID)"
        )
    except HubNotFound as exc:
        print(f"jupyter-mlops: {exc}")
    except HubError as exc:
        print(f"jupyter-mlops: a hub was found but cannot be used: {exc}")


def unregister_magics(ipython: Any) -> None:
    """Stop the worker and remove ``%mlops`` (called by %unload_ext)."""
    registry.reset()
    magics = ipython.magics_manager.magics.get("line", {})
    magics.pop("mlops", None)

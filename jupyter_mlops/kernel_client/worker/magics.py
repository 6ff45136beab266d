"""The ``%mlops`` line magic: connect to the hub, start, inspect and stop the worker.

::

    %mlops connect [URL] [--token TOKEN]   find (no URL) or set the hub and check it
    %mlops worker RUN_TRIAL --defaults CONF_OBJ --name NOTEBOOK_ID
    %mlops status                          link, current job and trial, progress
    %mlops stop                            stop the worker cleanly
    %mlops panel                           workers, launcher, jobs, models and deploy buttons
"""

from __future__ import annotations

import argparse
import logging
import shlex
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from jupyter_mlops.kernel_client.hub_client import HubError, HubNotFound
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
    sub.add_parser("status", add_help=False)
    sub.add_parser("stop", add_help=False)
    sub.add_parser("panel", add_help=False)
    sub.add_parser("help", add_help=False)
    return parser


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
    lines.append(f"outbox   {status['unacked_events']} event(s) not yet acked by the hub")
    lines.append(f"logs     {status['log_dir']}")
    return "\n".join(lines)


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
                hub = registry.connect(args.url, args.token)
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
        try:
            worker = registry.start_worker(
                namespace[args.function],
                namespace[args.defaults],
                str(name),
                log_every=args.log_every,
            )
        except HubError as exc:
            raise UsageError(str(exc)) from None
        namespace["mlops_worker"] = worker
        print(f"jupyter-mlops: worker {worker.name} started ({worker.connection.state})")


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

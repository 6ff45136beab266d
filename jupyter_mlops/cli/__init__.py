"""The command line: ``jupyter mlops COMMAND`` (the console script ``jupyter-mlops``).

The hub is ``--url``/``--token``, else ``JUPYTER_MLOPS_URL``/``JUPYTER_MLOPS_TOKEN``, else
the single running Jupyter server of this user that has the extension. An error is one line
on stderr (what went wrong and what to do) and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from jupyter_mlops.cli import ray_option

EXAMPLES = """\
examples:
  jupyter mlops start                      JupyterLab + the tutorial worker + the demo, here
  jupyter mlops workers
  jupyter mlops launch sample_conf.json --worker cifar10-worker
  jupyter mlops logs 3 --follow
  jupyter mlops models
  jupyter mlops deploy 3-1
  jupyter mlops pull 3-1 ./models/
  jupyter mlops tokens create colab --scope worker
  jupyter mlops worker train_cifar.ipynb   a notebook as a headless worker
  jupyter mlops worker train.ipynb --ray auto --trial-resources '{"GPU": 1}'
                                           its trials on a Ray cluster
"""


def _hub_options() -> argparse.ArgumentParser:
    hub = argparse.ArgumentParser(add_help=False)
    group = hub.add_argument_group("hub")
    group.add_argument(
        "--url",
        help="the hub's Jupyter server URL (default: $JUPYTER_MLOPS_URL,"
        " else the running Jupyter server)",
    )
    group.add_argument(
        "--token",
        help="its token (default: $JUPYTER_MLOPS_TOKEN, else the "
        "server's; prefer the variable: a command line is visible to others)",
    )
    return hub


def _json_option() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return out


def _handler(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """The command function, imported only when that command runs (a fast --help)."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(f"jupyter_mlops.cli.{module}"), name)(args))

    return run


def parser() -> argparse.ArgumentParser:
    from jupyter_mlops import __version__

    root = argparse.ArgumentParser(
        prog="jupyter mlops",
        description="jupyter-mlops from a terminal: workers, jobs, logs, models, deployment.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"jupyter-mlops {__version__}")
    sub = root.add_subparsers(dest="command", metavar="COMMAND")
    hub, out = _hub_options(), _json_option()

    def command(name: str, helptext: str, run: Callable, *parents: argparse.ArgumentParser):
        p = sub.add_parser(name, help=helptext, description=helptext, parents=list(parents))
        p.set_defaults(run=run)
        return p

    p = command(
        "start",
        "JupyterLab with the extension, the tutorial notebook running as a "
        "worker and the demo, in DIR (the examples are copied there if missing)",
        _handler("start", "start"),
    )
    p.add_argument("dir", nargs="?", default=".", help="the folder to serve (default: here)")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--token", help="the server's token (default: $MLOPS_TOKEN, else random)")
    p.add_argument("--root", help="the store folder (MLOpsApp.root_dir)")
    p.add_argument("--no-worker", action="store_true", help="do not run the tutorial worker")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")

    p = command(
        "examples",
        "copy the tutorial notebook, the demo notebook and the sample grid into DIR",
        _handler("start", "examples"),
    )
    p.add_argument("dir", nargs="?", default=".", help="where to put them (default: here)")
    p.add_argument("--force", action="store_true", help="replace files that exist")

    p = command(
        "demo",
        "open the demo classifier of the hub (its notebook is copied into the "
        "server's folder when missing)",
        _handler("start", "demo"),
        hub,
    )
    p.add_argument("--no-browser", action="store_true", help="only print the URL")

    p = command(
        "workers",
        "list the hub's workers, or forget an offline one",
        _handler("commands", "workers"),
        hub,
        out,
    )
    p.add_argument("action", nargs="?", choices=["list", "forget"], default="list")
    p.add_argument("name", nargs="?", help="the worker to forget (name or id)")

    p = command(
        "launch",
        "validate a conf (a JSON grid or search), launch it and follow its progress until it ends",
        _handler("commands", "launch"),
        hub,
    )
    p.add_argument("conf", help="a JSON file (- reads standard input)")
    p.add_argument(
        "--worker",
        action="append",
        help="worker name (repeat for several; default: any idle worker that accepts the conf)",
    )
    p.add_argument("--detach", action="store_true", help="launch and return at once")

    p = command("jobs", "list jobs, newest first", _handler("commands", "jobs"), hub, out)
    p.add_argument("--status", choices=["queued", "running", "finished", "failed", "cancelled"])
    p.add_argument("--worker", help="only jobs asked of or run by this worker")
    p.add_argument("--limit", type=int, default=20, help="at most this many (0: all)")

    p = command("job", "one job: progress and trials", _handler("commands", "job"), hub, out)
    p.add_argument("job", type=int)
    p = command("cancel", "cancel a job", _handler("commands", "cancel"), hub)
    p.add_argument("job", type=int)
    p = command("retry", "queue a job's failed trials again", _handler("commands", "retry"), hub)
    p.add_argument("job", type=int)

    p = command("logs", "print a job's log", _handler("commands", "logs"), hub)
    p.add_argument("job", type=int)
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until it ends")
    p.add_argument("--after", type=int, default=0, help="only lines after this cursor (seq)")

    p = command("models", "list stored models", _handler("commands", "models"), hub, out)
    p.add_argument("--job", type=int, help="only this job's models")
    p = command(
        "deploy", "deploy a stored model by hand (a rollback)", _handler("commands", "deploy"), hub
    )
    p.add_argument("model", help="model id, e.g. 3-1")
    p = command(
        "pull",
        "download a model file (ONNX graph + metadata, a zip)",
        _handler("commands", "pull"),
        hub,
    )
    p.add_argument("model", help="model id, e.g. 3-1")
    p.add_argument("dest", nargs="?", default=".", help="a file or a folder (default: here)")

    p = command(
        "tokens",
        "list, create or revoke scoped tokens (for remote workers and apps)",
        _handler("commands", "tokens"),
        hub,
        out,
    )
    p.add_argument("action", nargs="?", choices=["list", "create", "revoke"], default="list")
    p.add_argument("name", nargs="?", help="create: the token's name; revoke: its id")
    p.add_argument("--scope", choices=["worker", "predict"], default="worker")

    p = command(
        "worker",
        "run a notebook as a headless worker: its cells run in a kernel that "
        "stays alive; Ctrl-C stops it",
        _handler("notebook", "run"),
        hub,
    )
    p.add_argument("notebook", help="a notebook that calls start_worker(...)")
    p.add_argument("--kernel", help="kernel name (default: the notebook's)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between status lines")
    p.add_argument("--verbose", "-v", action="store_true", help="print the cells' output")
    ray_option.add_options(p)

    p = command("check", "check the store (server stopped) and repair it with --repair", _run_check)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="[ROOT] [--repair] [--json]")
    return root


def _run_check(args: argparse.Namespace) -> int:
    from jupyter_mlops.check import main as check

    return check(args.rest)


def _one_line(exc: BaseException) -> str:
    from jupyter_mlops.kernel_client.hub_client import TOKEN_ENV, HubAuthError, HubRequestError

    text = f"error: {exc}"
    if isinstance(exc, HubAuthError):
        return (
            f"error: the hub refused the token (HTTP {exc.status}: {exc.error}); give its token "
            f"with --token or {TOKEN_ENV} (`jupyter server list` shows a server's token)"
        )
    detail = exc.detail if isinstance(exc, HubRequestError) else None
    if isinstance(detail, dict) and isinstance(detail.get("errors"), list):
        problems = [f"{p.get('key') or 'conf'}: {p.get('message')}" for p in detail["errors"]]
        text += " (" + "; ".join(problems) + ")"
    return text


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (0 ok, 1 failed, 2 bad usage, 130 Ctrl-C)."""
    from jupyter_mlops.kernel_client.hub_client import HubError

    args = parser().parse_args(argv)
    if getattr(args, "run", None) is None:
        parser().print_help()
        return 2
    if args.command == "workers" and args.action == "forget" and not args.name:
        parser().error("workers forget needs the worker's name")
    if args.command == "tokens" and args.action in ("create", "revoke") and not args.name:
        parser().error(
            f"tokens {args.action} needs a {'name' if args.action == 'create' else 'token id'}"
        )
    if args.command == "tokens" and args.action == "revoke":
        if not str(args.name).isdigit():
            parser().error("tokens revoke needs the token's id (see: jupyter mlops tokens)")
        args.id = int(args.name)
    try:
        return args.run(args)
    except HubError as exc:
        print(_one_line(exc), file=sys.stderr)
        return 1
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``jupyter mlops worker NOTEBOOK --ray [ADDRESS] [--trial-resources JSON]``: the notebook's
worker runs its trials on a Ray cluster, as with ``%mlops worker ... --ray``.

The command line checks the options, then runs :func:`kernel_code` in the notebook's kernel
before its cells: from then on ``start_worker(...)`` (the function or ``%mlops worker``) gets a
:class:`~jupyter_mlops.kernel_client.worker.ray_executor.RayExecutor` unless the notebook
passes an ``executor`` of its own.
"""

from __future__ import annotations

import argparse
import json
import math

#: ``--ray`` without an address: a Ray started on this machine (as the magic's ``--ray``).
LOCAL = "local"


def trial_resources(value: str) -> dict[str, float]:
    """``--trial-resources``: a JSON object of resource names and amounts (``{"GPU": 1}``)."""
    try:
        resources = json.loads(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be JSON, e.g. '{\"GPU\": 1}'") from None
    if not (
        isinstance(resources, dict)
        and all(
            isinstance(amount, (int, float))
            and not isinstance(amount, bool)
            and math.isfinite(amount)
            and amount >= 0
            for amount in resources.values()
        )
    ):
        raise argparse.ArgumentTypeError('must map resource names to amounts: {"GPU": 1}')
    return {str(name): float(amount) for name, amount in resources.items()}


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--ray [ADDRESS]`` and ``--trial-resources JSON`` to the worker command."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL,
        default=None,
        metavar="ADDRESS",
        help="run the trials as Ray tasks on a cluster: 'auto', HOST:PORT, or nothing for a "
        'local Ray (pip install "jupyter_mlops[ray]"; docs/SCALING.md)',
    )
    parser.add_argument(
        "--trial-resources",
        type=trial_resources,
        default=None,
        metavar="JSON",
        help='with --ray: what each trial needs, e.g. \'{"GPU": 1}\' (default: {"CPU": 1})',
    )


def kernel_code(address: str, resources: dict[str, float] | None) -> str:
    """The cell that makes the kernel's ``start_worker`` use a Ray executor (values as
    Python literals: nothing the user typed is run as code)."""
    return (
        "from jupyter_mlops.cli.ray_option import use_ray as _mlops_use_ray\n"
        f"_mlops_use_ray({address!r}, {json.dumps(resources)!r})\n"
        "del _mlops_use_ray\n"
    )


def use_ray(address: str, resources_json: str) -> None:
    """In the kernel: ``start_worker`` without an ``executor`` gets a RayExecutor on
    ``address`` (``local``: a Ray of its own) with ``resources_json`` per trial."""
    from jupyter_mlops.kernel_client.worker import ray_executor, registry

    ray_executor.import_ray()  # no Ray in this kernel: say so before any cell runs
    resources = json.loads(resources_json)
    where = None if address == LOCAL else address
    registry.use_executor_by_default(lambda: ray_executor.RayExecutor(where, resources))

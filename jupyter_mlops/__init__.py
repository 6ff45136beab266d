"""jupyter-mlops: a model store, job hub and notebook workers inside Jupyter.

This module holds the entry points only: the server extension, the prebuilt JupyterLab
extension and the IPython extension (``%load_ext jupyter_mlops``). The public names
(``jupyter_mlops.Client``, ``__version__``, ...) are imported on first use (PEP 562), so
``import jupyter_mlops`` stays light: the server never imports torch through it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_mlops.client import Client as Client
    from jupyter_mlops.kernel_client.worker.reporting import log as log
    from jupyter_mlops.kernel_client.worker.reporting import log_text as log_text
    from jupyter_mlops.kernel_client.worker.reporting import resume_state as resume_state
    from jupyter_mlops.kernel_client.worker.reporting import save_checkpoint as save_checkpoint
    from jupyter_mlops.kernel_client.worker.reporting import should_stop as should_stop
    from jupyter_mlops.kernel_client.worker.reporting import watch as watch

#: Public names and the module each lives in, imported when first used.
_LAZY: dict[str, str] = {
    "Client": "jupyter_mlops.client",
    # reporting from any training code while a trial runs (like ``wandb.log``)
    **dict.fromkeys(
        ("log", "log_text", "should_stop", "save_checkpoint", "resume_state", "watch"),
        "jupyter_mlops.kernel_client.worker.reporting",
    ),
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # one source: labextension/package.json, via the metadata
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("jupyter_mlops")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0+unknown"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_mlops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from jupyter_mlops.serverext.app import MLOpsApp

    return [{"module": "jupyter_mlops", "app": MLOpsApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-mlops"}]


def load_ipython_extension(ipython: Any) -> None:
    from jupyter_mlops.kernel_client.worker.magics import register_magics

    register_magics(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from jupyter_mlops.kernel_client.worker.magics import unregister_magics

    unregister_magics(ipython)

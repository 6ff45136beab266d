"""jupyter-mlops: a model store, job hub and notebook workers inside Jupyter.

This module holds the entry points only: the server extension, the prebuilt JupyterLab
extension and the IPython extension (``%load_ext jupyter_mlops``).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


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

"""Start worker notebooks in kernels of this server, so they show in JupyterLab's sessions.

Used by the main command: ``--MLOpsApp.autostart_notebooks=train_cifar.ipynb`` opens a
session for the notebook (like opening it in JupyterLab) and runs its code cells in order.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import nbformat


async def start_notebooks(serverapp: Any, paths: list[str], log: logging.Logger) -> None:
    """Run each notebook in a new kernel session of ``serverapp``; log failures, never raise."""
    for path in paths:
        try:
            await _run_notebook(serverapp, path, log)
        except Exception:
            log.exception("jupyter_mlops: could not start notebook %s", path)


async def _run_notebook(serverapp: Any, path: str, log: logging.Logger) -> None:
    notebook = nbformat.read(Path(serverapp.root_dir) / path, as_version=4)
    session = await serverapp.session_manager.create_session(
        path=path, name=Path(path).name, type="notebook", kernel_name="python3"
    )
    kernel = serverapp.kernel_manager.get_kernel(session["kernel"]["id"])
    client = kernel.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=120)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            reply = await client.execute_interactive(
                cell.source, timeout=None, output_hook=lambda msg: None
            )
            if reply["content"]["status"] != "ok":
                content = reply["content"]
                log.error(
                    "jupyter_mlops: %s cell %d failed: %s: %s",
                    path,
                    index,
                    content.get("ename"),
                    content.get("evalue"),
                )
                return
        log.info("jupyter_mlops: %s is running in kernel %s", path, session["kernel"]["id"])
    finally:
        client.stop_channels()

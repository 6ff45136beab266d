"""The ipywidgets control panel (``%mlops panel``) for notebooks outside JupyterLab."""

from __future__ import annotations

from jupyter_mlops.kernel_client.panel.panel import MLOpsPanel, panel

__all__ = ["MLOpsPanel", "panel"]

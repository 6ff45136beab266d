"""``%mlops panel`` shows the ipywidgets panel for the hub this kernel knows."""

from __future__ import annotations

from typing import Any

from IPython.core.interactiveshell import InteractiveShell

from jupyter_mlops.kernel_client.panel import MLOpsPanel
from jupyter_mlops.kernel_client.worker import registry


def test_panel_magic_displays_the_panel_of_the_connected_hub(
    mlops_server: Any, monkeypatch: Any
) -> None:
    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.extend(objs))
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_mlops")
    try:
        shell.run_line_magic("mlops", f"connect {mlops_server.url} --token {mlops_server.token}")
        shell.run_line_magic("mlops", "panel")
        assert len(shown) == 1 and isinstance(shown[0], MLOpsPanel)
        assert shown[0].client.server_url.rstrip("/") == mlops_server.url.rstrip("/")
    finally:
        shell.run_line_magic("unload_ext", "jupyter_mlops")
        monkeypatch.setattr(registry, "_hub", None)

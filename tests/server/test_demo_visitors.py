"""Voilà visitors' kernels are shut down after their page closes; users' kernels never are."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from tests.support.server import MLOpsServer

REPO = Path(__file__).resolve().parents[2]
VISITORS = 20


async def _visit_page_socket(server: MLOpsServer, kernel_id: str) -> None:
    """Connect to the kernel as the demo page does, then leave (close the page)."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = server.url.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels"
    headers = {"Authorization": f"token {server.token}"}
    ws = await websocket_connect(HTTPRequest(url, headers=headers))
    connected = {k["id"]: k["connections"] for k in server.kernels()}
    assert connected[kernel_id] == 1
    ws.close()


def test_twenty_visitors_in_a_row_leave_no_kernel_behind(mlops_server: MLOpsServer) -> None:
    server = mlops_server
    shutil.copy(REPO / "demo_voila.ipynb", server.notebook_dir / "demo_voila.ipynb")
    status, raw = server.request("POST", "api/kernels", b"{}")  # the user's own kernel
    assert status == 201, raw
    own = {k["id"] for k in server.kernels()}
    assert len(own) == 1

    for _ in range(VISITORS):
        before = {k["id"] for k in server.kernels()}
        status, page = server.request("GET", "voila/render/demo_voila.ipynb")
        assert status == 200 and b"mlops-demo" in page
        (visitor,) = {k["id"] for k in server.kernels()} - before
        asyncio.run(_visit_page_socket(server, visitor))

    server.wait_for(lambda: {k["id"] for k in server.kernels()} == own, timeout=60)
    assert {k["id"] for k in server.kernels()} == own  # the user's kernel is still there

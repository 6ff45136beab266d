"""Voila visitors' kernels are shut down once their page is gone; no other kernel ever is.

The reaper runs against a fake kernel manager and is given the time (``now``): no sleeps.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from jupyter_mlops.serverext.visitors import VisitorReaper


class FakeKernels:
    """What the reaper needs of Jupyter's kernel manager."""

    def __init__(self) -> None:
        self.kernels: dict[str, Any] = {}
        self.connections: dict[str, int] = {}
        self.shut_down: list[str] = []

    def add(self, kernel_id: str, software: str | None = "voila/0.5.13") -> None:
        env = {"SERVER_SOFTWARE": software} if software else {"PATH": "/usr/bin"}
        self.kernels[kernel_id] = SimpleNamespace(_launch_args={"env": env})
        self.connections[kernel_id] = 0

    def list_kernel_ids(self) -> list[str]:
        return list(self.kernels)

    def get_kernel(self, kernel_id: str) -> Any:
        return self.kernels[kernel_id]

    def kernel_model(self, kernel_id: str) -> dict[str, Any]:
        return {"id": kernel_id, "connections": self.connections[kernel_id]}

    async def shutdown_kernel(self, kernel_id: str) -> None:
        self.shut_down.append(kernel_id)
        del self.kernels[kernel_id]


def test_the_reaper_shuts_down_only_closed_visitor_pages() -> None:
    kernels = FakeKernels()
    reaper = VisitorReaper(kernels, grace=10.0, start_timeout=120.0)
    kernels.add("visitor")
    kernels.add("back-again")
    kernels.add("never-connected")
    kernels.add("user", software=None)
    kernels.add("other-server", software="gunicorn/21")
    kernels.connections.update({"visitor": 1, "back-again": 1})

    def check(now: float) -> list[str]:
        return asyncio.run(reaper.check(now=now))

    assert check(0.0) == []
    kernels.connections.update({"visitor": 0, "back-again": 0})  # both pages closed
    assert check(5.0) == []
    kernels.connections["back-again"] = 1  # ... one reopened within the grace period
    assert check(9.0) == []
    assert check(10.0) == ["visitor"]
    kernels.connections["back-again"] = 0  # last seen connected at 10
    assert check(19.0) == []
    assert check(20.0) == ["back-again"]
    assert check(119.0) == []
    assert check(120.0) == ["never-connected"]
    assert check(100_000.0) == []  # a user's kernels are never touched
    assert kernels.shut_down == ["visitor", "back-again", "never-connected"]
    assert sorted(kernels.kernels) == ["other-server", "user"]


class VanishingKernels(FakeKernels):
    """A kernel shut down between listing and looking it up."""

    def get_kernel(self, kernel_id: str) -> Any:
        raise KeyError(kernel_id)


def test_the_reaper_skips_a_kernel_that_went_away() -> None:
    kernels = VanishingKernels()
    kernels.add("gone")
    reaper = VisitorReaper(kernels, grace=1.0, start_timeout=1.0)
    assert asyncio.run(reaper.check(now=0.0)) == []
    assert asyncio.run(reaper.check(now=50.0)) == [] and kernels.shut_down == []

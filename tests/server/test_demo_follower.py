"""The demo's follower against a real hub: live deployments, and reconnecting after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.demo.classifier import ClassifierService
from jupyter_mlops.kernel_client.demo.follower import DeploymentFollower
from jupyter_mlops.kernel_client.hub_client import HubClient
from tests.support.demo_models import make_demo_model, png_bytes
from tests.support.waiting import wait_until


def test_follower_survives_a_hub_restart(mlops_server: Any, tmp_path: Path) -> None:
    server = mlops_server
    _, job = server.api("POST", "jobs", {"conf": {"LEARNING_RATE": [0.1, 0.2]}, "worker": "any"})
    model_a = make_demo_model(tmp_path / "a.zip", seed=1, accuracy=0.6)
    model_b = make_demo_model(tmp_path / "b.zip", seed=2, accuracy=0.4)
    assert server.upload_model(f"{job['id']}-0", tmp_path / "a.zip")[0] == 201
    assert server.upload_model(f"{job['id']}-1", tmp_path / "b.zip")[0] == 201

    service = ClassifierService()
    follower = DeploymentFollower(service, HubClient(server.url, server.token))
    statuses: list[str] = []
    follower.add_listener(
        lambda kind, info: statuses.append(info["text"]) if kind == "status" else None
    )
    follower.start()
    try:
        assert follower.synced.wait(30)
        assert service.active is not None and service.active.sha1 == model_a["sha1"]
        assert service.active.deployment["reason"] == "auto"

        server.restart()
        wait_until(lambda: follower.connected)
        assert any("reconnecting" in text or "lost" in text for text in statuses)
        assert service.predict(png_bytes()).sha1 == model_a["sha1"]  # served throughout

        status, _ = server.api("POST", "deployment", {"model_id": f"{job['id']}-1"})
        assert status == 201
        wait_until(lambda: service.active.sha1 == model_b["sha1"])
        assert service.predict(png_bytes()).model_id == f"{job['id']}-1"

        assert server.api("DELETE", "models")[0] == 200  # demo reset: nothing deployed
        wait_until(lambda: service.active is None)
    finally:
        follower.stop()

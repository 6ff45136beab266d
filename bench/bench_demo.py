"""Benchmark the demo classifier: model switch time and predict overhead.

Starts a real Jupyter server with the extension (the test fixture's class), stores models,
runs the demo service and its follower in this process, then measures:

* switch: from ``POST /mlops/api/deployment`` to the demo service answering a prediction with
  the new model (event -> download -> load -> smoke test -> swap -> predict). Rollbacks between
  models loaded before hit the service's cache; "new model" rows disable the cache so every
  switch downloads and loads the file.
* predict: ``ClassifierService.predict(image_bytes)`` against a bare path on the same bytes (PIL
  decode, RGB, resize, normalize, ``model(x)``), interleaved, alternating which runs first.

Usage: ``python bench/bench_demo.py [--switches 50] [--predicts 500] [--threads 1]``.
Prints a table and writes ``bench/results/demo.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's jupyter_mlops and tests.support
sys.path.insert(0, str(ROOT / "bench"))
from _common import median, percentile  # noqa: E402


def photo_bytes(width: int, height: int, fmt: str) -> bytes:
    """A synthetic picture (gradient plus noise) encoded as ``fmt``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def bare_predict(program: Any, data: bytes, size: tuple[int, int], mean: Any, std: Any) -> Any:
    """The reference path: decode, RGB, resize, normalize, forward."""
    import numpy as np
    import torch
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB").resize(size, Image.Resampling.BILINEAR)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1) / 255.0
    with torch.no_grad():
        return program(((x - mean) / std).unsqueeze(0))


def measure_predict(service: Any, data: bytes, n: int) -> tuple[list[float], list[float]]:
    import torch

    active = service.active
    meta = active.metadata["normalization"]
    mean = torch.tensor(meta["mean"]).view(3, 1, 1)
    std = torch.tensor(meta["std"]).view(3, 1, 1)
    size = (active.width, active.height)
    bare, served = [], []
    for _ in range(20):  # warm up both paths
        bare_predict(active.loaded.program, data, size, mean, std)
        service.predict(data)
    for i in range(n):
        order = (0, 1) if i % 2 else (1, 0)
        for which in order:
            start = time.perf_counter()
            if which == 0:
                bare_predict(active.loaded.program, data, size, mean, std)
                bare.append(1e3 * (time.perf_counter() - start))
            else:
                service.predict(data)
                served.append(1e3 * (time.perf_counter() - start))
    return bare, served


def measure_switches(server: Any, service: Any, follower: Any, models: list[dict[str, Any]],
                     n: int, image: bytes) -> list[float]:  # fmt: skip
    swapped = threading.Event()
    follower.add_listener(lambda kind, info: swapped.set() if kind == "model" else None)
    times = []
    for i in range(n):
        target = models[(i + 1) % len(models)]
        swapped.clear()
        start = time.perf_counter()
        status, body = server.api("POST", "deployment", {"model_id": target["id"]})
        assert status == 201, body
        while True:
            swapped.wait(10)
            swapped.clear()
            active = service.active
            if active is not None and active.sha1 == target["sha1"]:
                break
        result = service.predict(image)
        times.append(1e3 * (time.perf_counter() - start))
        assert result.sha1 == target["sha1"]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=50)
    parser.add_argument("--predicts", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (demo_app's)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from jupyter_mlops.kernel_client.demo.classifier import ClassifierService
    from jupyter_mlops.kernel_client.demo.follower import DeploymentFollower
    from jupyter_mlops.kernel_client.hub_client import HubClient
    from tests.support.demo_models import make_demo_model
    from tests.support.server import MLOpsServer

    rows: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        base = Path(tmp)
        server = MLOpsServer(base / "server").start()
        try:
            _, job = server.api(
                "POST", "jobs", {"conf": {"LEARNING_RATE": [0.001, 0.002, 0.003]}, "worker": "any"}
            )
            models = []
            for index in range(3):
                path = base / f"m{index}.zip"
                meta = make_demo_model(path, seed=index, accuracy=0.5 + index / 10)
                status, body = server.upload_model(f"{job['id']}-{index}", path)
                assert status == 201, body
                models.append({"id": body["id"], "sha1": meta["sha1"]})
            image = photo_bytes(32, 32, "PNG")
            for label, cache_size in (("rollback, model cached", 4), ("new model, no cache", 0)):
                service = ClassifierService(cache_size=cache_size)
                follower = DeploymentFollower(service, HubClient(server.url, server.token))
                follower.start()
                assert follower.synced.wait(30) and follower.mirror.socket.connected.wait(30)
                times = measure_switches(server, service, follower, models, args.switches, image)
                follower.stop()
                rows.append((f"switch: POST /deployment -> new model answers ({label})",
                             median(times), percentile(times, 99), "ms"))  # fmt: skip
            for name, data in (
                ("32x32 PNG", image),
                ("1024x768 JPEG", photo_bytes(1024, 768, "JPEG")),
            ):
                bare, served = measure_predict(service, data, args.predicts)
                overhead = [s - b for s, b in zip(served, bare, strict=True)]
                rows.append((f"predict {name}: bare decode+resize+normalize+model(x)",
                             median(bare), percentile(bare, 99), "ms"))  # fmt: skip
                rows.append((f"predict {name}: demo service", median(served),
                             percentile(served, 99), "ms"))  # fmt: skip
                rows.append((f"predict {name}: service overhead (paired)",
                             median(overhead), percentile(overhead, 99),
                             "ms"))  # fmt: skip
        finally:
            server.stop()

    width = max(len(r[0]) for r in rows)
    print(f"\ndemo benchmark: {args.switches} switches, {args.predicts} interleaved predicts, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    print(f"| {'measure'.ljust(width)} | p50 (ms) | p99 (ms) |")
    print(f"|{'-' * (width + 2)}|---------:|---------:|")
    for name, p50, p99, _ in rows:
        print(f"| {name.ljust(width)} | {p50:8.3f} | {p99:8.3f} |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo.json").write_text(
        json.dumps([{"measure": n, "p50_ms": a, "p99_ms": b} for n, a, b, _ in rows], indent=1)
    )


if __name__ == "__main__":
    main()

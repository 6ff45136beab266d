"""MLflow's side of bench_hub.py, run with an interpreter that has mlflow (its own venv).

Starts ``mlflow server`` (sqlite backend, proxied artifacts, ``--workers 1``, job runner off,
telemetry off, loopback only) in a scratch folder, waits until its process tree is idle, then
answers one JSON command per stdin line with one JSON line on its real stdout (everything that
mlflow prints goes to stderr). Commands::

    {"cmd": "setup"}                              experiment, 2 registered versions, warm-up
    {"cmd": "log_batch", "points": N, "batch": B}  a new run; N points by client.log_batch
    {"cmd": "alias", "n": N}                       N alias switches (REST, keep-alive)
    {"cmd": "quit"}

The server is stopped by its process-group id on quit, on stdin EOF, on an error and when
``--max-seconds`` have passed (a watchdog), so no server outlives the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    HOST,
    KeepAliveClient,
    free_port,
    median,
    percentile,
    port_free,
    stop_process_group,
    tree_cpu_seconds,
    wait_idle,
)

SERVER_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no job runner + huey consumers
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
ALIAS = "champion"


class MlflowServer:
    def __init__(self, workdir: Path, port: int, startup_timeout: float) -> None:
        self.workdir, self.port, self.startup_timeout = workdir, port, startup_timeout
        self.url = f"http://{HOST}:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> dict[str, float]:
        if not port_free(self.port):
            raise RuntimeError(f"port {HOST}:{self.port} is busy")
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        cmd = [str(mlflow_bin)] if mlflow_bin.exists() else [sys.executable, "-m", "mlflow"]
        cmd += [
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.workdir}/mlflow.db",
            "--artifacts-destination",
            str(self.workdir / "artifacts"),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        log = (self.workdir / "mlflow-server.log").open("wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **SERVER_ENV},
            start_new_session=True,
        )
        deadline = t0 + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                tail = (self.workdir / "mlflow-server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mlflow server exited rc={self.proc.returncode}: {tail}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server not healthy after {self.startup_timeout} s")
            time.sleep(0.2)
        health_s = time.monotonic() - t0
        wait_idle(self.proc.pid, timeout=60)
        return {"startup_s": health_s, "settle_s": time.monotonic() - t0}

    def stop(self) -> None:
        with self._lock:
            if self.proc is not None:
                stop_process_group(self.proc)
                self.proc = None


class Side:
    def __init__(self, url: str, server_pid: int) -> None:
        self.server_pid = server_pid
        import mlflow
        from mlflow.tracking import MlflowClient

        mlflow.set_tracking_uri(url)
        self.mlflow = mlflow
        self.client = MlflowClient(url)
        self.port = int(url.rsplit(":", 1)[1])
        self.exp_id: str | None = None
        self.model_name: str | None = None
        self.versions: list[str] = []

    def setup(self, workdir: Path) -> dict[str, Any]:
        client = self.client
        self.exp_id = client.create_experiment(f"bench-{uuid.uuid4().hex[:8]}")
        # two registered versions, each from a small raw artifact (a version needs a source)
        self.model_name = f"bench-model-{uuid.uuid4().hex[:6]}"
        client.create_registered_model(self.model_name)
        weights = workdir / "weights"
        weights.mkdir(exist_ok=True)
        for i in range(2):
            run = client.create_run(self.exp_id, run_name=f"model-{i}")
            path = weights / "model.bin"
            path.write_bytes(os.urandom(4096))
            client.log_artifact(run.info.run_id, str(path), artifact_path="weights")
            client.set_terminated(run.info.run_id)
            mv = client.create_model_version(
                self.model_name, source=f"runs:/{run.info.run_id}/weights", run_id=run.info.run_id
            )
            self.versions.append(str(mv.version))
        # warm-up (connection pool, lazy imports, DB pages): untimed
        self.log_batch(2000, 1000)
        self.alias(20)
        return {"versions": self.versions}

    def log_batch(self, points: int, batch: int) -> dict[str, Any]:
        from mlflow.entities import Metric

        client = self.client
        run = client.create_run(self.exp_id, run_name="log_batch")
        run_id = run.info.run_id
        ts = int(time.time() * 1000)
        metrics = [Metric("loss", 1.0 / (i + 1), ts + i, i) for i in range(points)]
        chunks = [metrics[i : i + batch] for i in range(0, points, batch)]
        calls = []
        cpu0 = tree_cpu_seconds(self.server_pid)
        t_all = time.perf_counter()
        for chunk in chunks:
            t = time.perf_counter()
            client.log_batch(run_id, metrics=chunk)
            calls.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - t_all
        cpu = tree_cpu_seconds(self.server_pid) - cpu0
        stored = len(client.get_metric_history(run_id, "loss"))
        client.set_terminated(run_id)
        return {
            "pts_per_s": points / elapsed,
            "elapsed_s": elapsed,
            "call_p50_ms": median(calls) * 1e3,
            "server_cpu_us_per_pt": cpu / points * 1e6,
            "stored": stored,
            "expected": points,
        }

    def alias(self, n: int) -> dict[str, Any]:
        """Move alias 'champion' between the two versions n times: one REST call each."""
        api = KeepAliveClient(self.port)
        path = "/api/2.0/mlflow/registered-models/alias"
        lat, target = [], self.versions[0]
        try:
            for i in range(n):
                target = self.versions[i % 2]
                body = {"name": self.model_name, "alias": ALIAS, "version": target}
                t = time.perf_counter()
                status, answer = api.request("POST", path, body)
                lat.append(time.perf_counter() - t)
                if status != 200:
                    raise RuntimeError(f"set alias: HTTP {status} {answer}")
            status, answer = api.request(
                "GET", f"{path}?name={self.model_name}&alias={ALIAS}", None
            )
        finally:
            api.close()
        got = answer["model_version"]["version"] if status == 200 else None
        return {
            "p50_ms": median(lat) * 1e3,
            "p99_ms": percentile(lat, 99) * 1e3,
            "n": n,
            "final_ok": got == target,
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=0, help="0: a free one")
    ap.add_argument("--workdir", default=None, help="parent of the scratch folder")
    ap.add_argument("--startup-timeout", type=float, default=120.0)
    ap.add_argument("--max-seconds", type=float, default=900.0, help="watchdog: stop after this")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    # the protocol owns the real stdout; anything mlflow prints goes to stderr
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(obj: dict[str, Any]) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    try:
        import mlflow
    except Exception as exc:
        reply({"ok": False, "error": f"mlflow is not importable: {exc}"})
        return 1

    workdir = Path(tempfile.mkdtemp(prefix="bench-mlflow-", dir=args.workdir))
    server = MlflowServer(workdir, args.port or free_port(), args.startup_timeout)

    def watchdog() -> None:
        server.stop()
        os._exit(3)

    timer = threading.Timer(args.max_seconds, watchdog)
    timer.daemon = True
    timer.start()
    try:
        info = server.start()
        assert server.proc is not None
        side = Side(server.url, server.proc.pid)
        reply({"ok": True, "event": "ready", "mlflow": mlflow.__version__, **info})
        for count, line in enumerate(sys.stdin):
            if count >= 10_000:
                break
            if not line.strip():
                continue
            cmd = json.loads(line)
            try:
                if cmd["cmd"] == "quit":
                    break
                if cmd["cmd"] == "setup":
                    result = side.setup(workdir)
                elif cmd["cmd"] == "log_batch":
                    result = side.log_batch(int(cmd["points"]), int(cmd["batch"]))
                elif cmd["cmd"] == "alias":
                    result = side.alias(int(cmd["n"]))
                else:
                    raise ValueError(f"unknown command {cmd['cmd']!r}")
                reply({"ok": True, **result})
            except Exception as exc:
                reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    except Exception as exc:
        reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    finally:
        timer.cancel()
        server.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

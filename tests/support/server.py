"""A real Jupyter server (or JupyterLab) with the extension, run as a subprocess for tests."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MLOpsServer:
    """``jupyter server`` (or ``jupyter lab``) with jupyter_mlops and Voilà, on loopback."""

    def __init__(
        self,
        base: Path,
        *,
        app: str = "server",
        grace_seconds: float = 3.0,
        extra_config: dict[str, Any] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.base = base
        self.app = app
        self.port = free_port()
        self.token = "test-token-" + hashlib.sha1(str(base).encode()).hexdigest()[:12]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.notebook_dir = base / "notebooks"
        self.root_dir = base / "mlops"
        self.config_dir = base / "config"
        self.log_path = base / f"{app}.log"
        for folder in (self.notebook_dir, self.config_dir, base / "runtime", base / "data"):
            folder.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_mlops": True, "voila.server_extension": True},
                "port": self.port,
                "ip": "127.0.0.1",
                "token": self.token,
                "root_dir": str(self.notebook_dir),
                "open_browser": False,
                "port_retries": 0,
            },
            "IdentityProvider": {"token": self.token},
            "MLOpsApp": {
                "root_dir": str(self.root_dir),
                "worker_grace_seconds": grace_seconds,
                "visitor_kernel_grace_seconds": 2.0,
            },
            "LabApp": {"news_url": None},
        }
        for section, values in (extra_config or {}).items():
            config.setdefault(section, {}).update(values)
        (self.config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
        self.process: subprocess.Popen[bytes] | None = None
        self.extra_env = dict(extra_env or {})

    @property
    def server_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.config_dir),
            JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
            JUPYTER_DATA_DIR=str(self.base / "data"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
        )
        env.pop("JUPYTER_MLOPS_URL", None)
        env.pop("JUPYTER_MLOPS_TOKEN", None)
        env.update(self.extra_env)
        return env

    @property
    def env(self) -> dict[str, str]:
        """Environment for a kernel started outside this server that should find the hub."""
        return {"JUPYTER_MLOPS_URL": self.url, "JUPYTER_MLOPS_TOKEN": self.token}

    def start(self, timeout: float = 90.0) -> MLOpsServer:
        module = "jupyterlab" if self.app == "lab" else "jupyter_server"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--allow-root"],
            env=self.server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if self.request("GET", "api/status")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"server did not answer: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        """Stop the server and every kernel it started (its whole process group)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path.lstrip("/"), data=body, method=method)
        if auth:
            request.add_header("Authorization", f"token {self.token}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        auth: bool = True,
    ) -> tuple[int, Any]:
        """Call ``/mlops/api/<path>`` with a JSON body; return (status, decoded JSON)."""
        data = None if body is None else json.dumps(body).encode()
        status, raw = self.request(method, "mlops/api/" + path.lstrip("/"), data, auth=auth)
        return status, json.loads(raw) if raw else None

    def kernels(self) -> list[dict[str, Any]]:
        """The server's running kernels (``GET /api/kernels``)."""
        status, raw = self.request("GET", "api/kernels")
        assert status == 200, raw
        return json.loads(raw)

    def upload_model(
        self, model_id: str, path: Path, lease: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """PUT a model file for a trial; ``lease`` is the trial's entry of the ``job``
        assignment (its ``attempt`` and ``lease`` secret), without which it is refused."""
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        route = f"mlops/api/models/{model_id}/file?sha256={sha}"
        headers = {}
        if lease is not None:
            route += f"&attempt={lease['attempt']}"
            headers["X-MLOps-Lease"] = lease["lease"]
        status, raw = self.request("PUT", route, data, headers=headers)
        return status, json.loads(raw)

    def wait_for(self, predicate: Any, timeout: float = 120.0, interval: float = 0.3) -> Any:
        """Poll ``predicate()`` until it returns something truthy; return that."""
        return wait_until(predicate, timeout, interval)

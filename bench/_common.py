"""Shared helpers for the benchmarks: stdlib only (``_mlflow_side.py`` runs it in another venv).

Everything binds to 127.0.0.1. Servers are started in their own process group and stopped by
that group's id (the server's PID), never by name.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import signal
import socket
import subprocess
import time
from typing import Any

HOST = "127.0.0.1"


# ------------------------------------------------------------------ statistics
def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), ``q`` in 0..100."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: list[float]) -> float:
    return percentile(values, 50)


# ------------------------------------------------------------------------ ports
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_free(port: int) -> bool:
    """True if ``port`` can be bound (SO_REUSEADDR, so TIME_WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


# ------------------------------------------------------- process tree (Linux /proc)
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int, path: str | None = None) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (or of ``path``), None if it cannot be read."""
    try:
        with open(path or f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    return raw[raw.rfind(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and its live descendants (empty if /proc is not available)."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if name.isdigit():
                fields = _stat(int(name))
                if fields is not None:
                    children.setdefault(int(fields[1]), []).append(int(name))
    tree, todo = [], [root]
    while todo and len(tree) < 10_000:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def cmdline(pid: int) -> list[str]:
    """The command line of ``pid`` (empty if it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode(errors="replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return []


def find_in_tree(root: int, needle: str) -> int | None:
    """The first process under ``root`` whose command line holds ``needle`` (None if none)."""
    for pid in process_tree(root):
        if any(needle in part for part in cmdline(pid)):
            return pid
    return None


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def memory_bytes(pid: int) -> dict[str, int]:
    """``rss``, ``pss`` and ``uss`` (private) of ``pid`` in bytes; missing keys if unreadable.

    RSS counts shared libraries in full; PSS shares them out among the processes that map
    them; USS is what only this process holds (what stopping it would free).
    """
    out: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1]) * 1024
    with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/smaps_rollup") as f:
        private = 0
        for line in f:
            key, _, rest = line.partition(":")
            if key == "Pss":
                out["pss"] = int(rest.split()[0]) * 1024
            elif key in ("Private_Clean", "Private_Dirty"):
                private += int(rest.split()[0]) * 1024
        out["uss"] = private
    return out


def tree_memory_bytes(root: int) -> dict[str, int]:
    """:func:`memory_bytes` summed over ``root`` and its descendants."""
    total: dict[str, int] = {}
    for pid in process_tree(root):
        for key, value in memory_bytes(pid).items():
            total[key] = total.get(key, 0) + value
    return total


def tree_cpu_seconds(root: int) -> float:
    total = 0.0
    for pid in process_tree(root):
        fields = _stat(pid)
        if fields is not None:
            total += (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
    return total


def thread_cpu_seconds(native_id: int) -> float:
    """User + system CPU time of this process's thread ``native_id`` (NaN if it is gone).

    Read from ``/proc/self/task/<native_id>/stat``, so in clock ticks (10 ms on most systems):
    measure over seconds, not single calls.
    """
    fields = _stat(native_id, f"/proc/self/task/{native_id}/stat")
    if fields is None:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / _TICK


def pin_process_tree(root: int, cpus: set[int]) -> int:
    """Set the CPU affinity of every thread of ``root`` and its descendants; return how many.

    Threads and children started later inherit it from the thread that starts them.
    """
    pinned = 0
    for pid in process_tree(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            with contextlib.suppress(OSError, ValueError):
                os.sched_setaffinity(int(tid), cpus)
                pinned += 1
    return pinned


def wait_idle(
    root: int, *, window: float = 1.0, max_cores: float = 0.15, timeout: float = 60.0
) -> float:
    """Wait until the process tree of ``root`` uses under ``max_cores``; return the wait (s).

    A server answers its health check while it is still importing (MLflow's helpers, the
    Jupyter server's extensions); timing it then measures its start-up, not its requests.
    Returns NaN when it did not settle within ``timeout``.
    """
    start = time.monotonic()
    if not os.path.exists(f"/proc/{root}/stat"):
        time.sleep(window)
        return math.nan
    prev = tree_cpu_seconds(root)
    while time.monotonic() - start < timeout:
        time.sleep(window)
        cur = tree_cpu_seconds(root)
        if (cur - prev) / window < max_cores:
            return time.monotonic() - start
        prev = cur
    return math.nan


def stop_process_group(proc: subprocess.Popen[Any], timeout: float = 20.0) -> float:
    """SIGTERM the group led by ``proc`` (started with start_new_session); SIGKILL leftovers.

    Returns seconds until ``proc`` exited.
    """
    t0 = time.monotonic()
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    elapsed = time.monotonic() - t0
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # helpers that outlived their parent
    return elapsed


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


# ------------------------------------------------------------------------ HTTP
class KeepAliveClient:
    """JSON over one keep-alive ``http.client`` connection (reconnects once if it drops)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None, timeout: float = 30.0):
        self.port, self.timeout = port, timeout
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        return self.raw(method, path, data)

    def raw(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        for attempt in (1, 2):
            try:
                self.conn.request(
                    method, path, body=data, headers={**self.headers, **(headers or {})}
                )
                response = self.conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
                if attempt == 2:
                    raise
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode(errors="replace")
        return response.status, decoded

    def close(self) -> None:
        self.conn.close()


# ---------------------------------------------------------------- the hub server
class HubServer:
    """``jupyter server`` with jupyter_mlops on loopback, in a scratch folder, as a subprocess.

    ``python`` defaults to the running interpreter (the venv that has jupyter_mlops).
    """

    def __init__(
        self,
        base: str,
        python: str,
        extra_config: dict[str, Any] | None = None,
        profile: str | None = None,
    ):
        import secrets

        self.base, self.python, self.profile = base, python, profile
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://{HOST}:{self.port}"
        self.root_dir = os.path.join(base, "mlops")
        self.log_path = os.path.join(base, "server.log")
        for sub in ("notebooks", "config", "runtime", "data"):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        config: dict[str, Any] = {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_mlops": True},
                "port": self.port,
                "ip": HOST,
                "token": self.token,
                "root_dir": os.path.join(base, "notebooks"),
                "open_browser": False,
                "port_retries": 0,
            },
            "IdentityProvider": {"token": self.token},
            "MLOpsApp": {"root_dir": self.root_dir},
        }
        for section, values in (extra_config or {}).items():
            config.setdefault(section, {}).update(values)
        with open(os.path.join(base, "config", "jupyter_server_config.json"), "w") as f:
            json.dump(config, f)
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = self.settle_s = math.nan

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def start(self, timeout: float = 90.0) -> HubServer:
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=os.path.join(self.base, "config"),
            JUPYTER_RUNTIME_DIR=os.path.join(self.base, "runtime"),
            JUPYTER_DATA_DIR=os.path.join(self.base, "data"),
            JUPYTER_PLATFORM_DIRS="1",
        )
        for key in ("JUPYTER_MLOPS_URL", "JUPYTER_MLOPS_TOKEN"):
            env.pop(key, None)
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            prefix = ["-m", "cProfile", "-o", self.profile] if self.profile else []
            self.proc = subprocess.Popen(
                [self.python, *prefix, "-m", "jupyter_server", "--allow-root"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        api = KeepAliveClient(self.port, self.headers, timeout=5)
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"jupyter server exited: {self.log_tail()}")
                try:
                    if api.request("GET", "/mlops/api/workers")[0] == 200:
                        break
                except OSError:
                    api.close()
                    api = KeepAliveClient(self.port, self.headers, timeout=5)
                if time.monotonic() - t0 > timeout:
                    self.stop()
                    raise RuntimeError(f"jupyter server did not answer: {self.log_tail()}")
                time.sleep(0.2)
        finally:
            api.close()
        self.startup_s = time.monotonic() - t0
        wait_idle(self.proc.pid, timeout=30)
        self.settle_s = time.monotonic() - t0
        return self

    def log_tail(self, n: int = 3000) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
            self.proc = None

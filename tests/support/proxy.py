"""A TCP proxy for fault tests: put it between workers and the hub, then cut the network.

``blackhole()`` is a cut cable: connections stay open and new ones are accepted, but no byte
passes either way (the proxy stops reading, so senders' buffers fill as they would); after
``restore()`` what was held back flows again, as TCP delivers it after a cut, to peers that
may have given up meanwhile. ``reset()`` drops every open connection at once (a broken
path); ``cut()`` also refuses new ones until ``restore()``. ``restore(websockets=False)``
lets plain HTTP requests through but not a websocket upgrade, so a test can have a worker's
upload reach the hub before its link does. Threads only; everything runs on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target_port`` until :meth:`close`."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._refusing = False  # cut(): new connections are closed at once
        self.websockets = True  # False: websocket upgrades are refused
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.connections = 0
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def env(self, token: str) -> dict[str, str]:
        """Environment for a worker that reaches the hub through this proxy."""
        return {"JUPYTER_MLOPS_URL": self.url, "JUPYTER_MLOPS_TOKEN": token}

    # -- faults -------------------------------------------------------------------------------

    def blackhole(self) -> None:
        """Let no byte through, either way, on open and new connections."""
        self._flowing.clear()

    def restore(self, websockets: bool = True) -> None:
        """Let bytes flow again (what was held back is delivered) and accept connections."""
        self.websockets = websockets
        self._refusing = False
        self._flowing.set()

    def allow_websockets(self) -> None:
        self.websockets = True

    def cut(self) -> None:
        """Drop every connection and refuse new ones (the network is gone) until restore."""
        self._refusing = True
        self.reset()

    @property
    def blackholed(self) -> bool:
        return not self._flowing.is_set()

    def reset(self) -> None:
        """Close every open connection (both ends see it at once)."""
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.reset()

    # -- the threads --------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(
                target=self._connect, args=(client,), name="proxy-conn", daemon=True
            ).start()

    def _connect(self, client: socket.socket) -> None:
        if self._refusing or (not self.websockets and _is_upgrade(client)):
            with contextlib.suppress(OSError):
                client.close()
            return
        self._track(client)
        self._flowing.wait()  # a connection made during a cut reaches the hub only after it
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            self._drop(client)
            return
        self._track(upstream)
        ended = threading.Semaphore(0)  # both directions done: close both ends
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(
                target=self._pump, args=(src, dst, ended), name="proxy-pump", daemon=True
            ).start()
        ended.acquire()
        ended.acquire()
        self._drop(client)
        self._drop(upstream)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _pump(self, src: socket.socket, dst: socket.socket, ended: threading.Semaphore) -> None:
        try:
            self._forward(src, dst)
        finally:
            ended.release()

    def _forward(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                self._flowing.wait()
                readable, _, _ = select.select([src], [], [], 0.2)
                if not readable or not self._flowing.is_set():
                    continue
                data = src.recv(65536)
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
        except (OSError, ValueError):
            self._drop(src)
            self._drop(dst)


def _is_upgrade(client: socket.socket, wait: float = 2.0) -> bool:
    """Whether the request waiting on ``client`` asks for a websocket (peeked, not read)."""
    deadline = time.monotonic() + wait
    client.settimeout(wait)
    head = b""
    try:
        while b"\r\n\r\n" not in head and time.monotonic() < deadline:
            head = client.recv(8192, socket.MSG_PEEK)
            if not head:
                break
            if b"\r\n\r\n" not in head:
                time.sleep(0.01)
    except OSError:
        pass
    finally:
        client.settimeout(None)
    return b"upgrade: websocket" in head.lower()

"""The worker socket's ping settings obey tornado's rule and notice a frozen worker in ~30 s."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from jupyter_server.base.websocket import WebSocketMixin
from tornado.websocket import WebSocketProtocol13, _WebSocketParams

from jupyter_mlops.serverext.handlers.sockets import EventsSocket, WorkerSocket, ping_settings

#: Tornado waits this long for the peer's close reply after a ping timed out.
CLOSE_WAIT = 5.0


def tornado_sees(interval: float, timeout: float) -> tuple[float, float]:
    """(interval, timeout) as tornado's protocol uses them (it cuts a too-long timeout)."""
    protocol = WebSocketProtocol13(
        SimpleNamespace(),  # type: ignore[arg-type]
        False,
        _WebSocketParams(ping_interval=interval, ping_timeout=timeout),
    )
    return protocol.ping_interval, protocol.ping_timeout


def handler_values(socket: type, settings: dict) -> tuple[float, float]:
    stub = SimpleNamespace(settings=settings, ping_defaults=socket.ping_defaults)
    return socket.ping_interval.fget(stub), socket.ping_timeout.fget(stub)  # type: ignore[attr-defined]


@pytest.mark.parametrize("socket", [WorkerSocket, EventsSocket])
def test_ping_values_satisfy_tornados_rule(socket: type) -> None:
    interval, timeout = handler_values(socket, {})
    assert 0 < timeout <= interval  # tornado >= 6.5: the timeout cannot be longer
    assert tornado_sees(interval, timeout) == (interval, timeout)  # used as given


def test_a_frozen_worker_loses_its_link_within_about_30_seconds() -> None:
    interval, timeout = handler_values(WorkerSocket, {})
    # Frozen right after answering a ping: the next ping goes out ``interval`` later and is
    # given up ``timeout`` after that; frozen just before a ping: ``timeout`` after it.
    fastest, slowest = timeout + CLOSE_WAIT, interval + timeout + CLOSE_WAIT
    assert fastest >= 10 and slowest <= 30
    assert timeout >= 5  # a busy but alive worker has seconds to answer


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"ws_ping_interval": 500, "ws_ping_timeout": 1500}, (1.5, 1.5)),
        ({"ws_ping_interval": 20_000, "ws_ping_timeout": 5_000}, (20.0, 5.0)),
        ({"ws_ping_interval": 2_000}, (2.0, 2.0)),
        ({"ws_ping_timeout": 60_000}, (60.0, 60.0)),
        ({"ws_ping_interval": 0}, (0.0, 0.0)),
    ],
)
def test_jupyter_server_ms_settings_override_and_still_obey_the_rule(
    settings: dict, expected: tuple[float, float]
) -> None:
    interval, timeout = ping_settings(settings, WorkerSocket.ping_defaults)
    assert (interval, timeout) == expected
    assert timeout <= interval
    if interval:
        assert tornado_sees(interval, timeout) == (interval, timeout)


def test_only_tornados_ping_runs() -> None:
    """jupyter_server's millisecond ping timer would read the same properties in seconds."""
    assert WorkerSocket.open is not WebSocketMixin.open
    stub = SimpleNamespace(ping_callback=None)
    WorkerSocket.open(stub)  # type: ignore[arg-type]
    assert stub.ping_callback is None

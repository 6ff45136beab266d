"""%mlops magics, tested in-process in an IPython InteractiveShell."""

from __future__ import annotations

import re

import pytest
from IPython.core.error import UsageError

from jupyter_mlops.kernel_client.worker import registry
from tests.support.workers import DEFAULTS


def test_load_says_when_no_hub_is_found(ip, capsys) -> None:
    ip.run_line_magic("reload_ext", "jupyter_mlops")
    out = capsys.readouterr().out
    assert "no jupyter-mlops hub found" in out and "%mlops connect" in out
    ip.run_line_magic("mlops", "status")
    assert "no worker running" in capsys.readouterr().out


def test_connect_errors_are_clear(ip) -> None:
    with pytest.raises(UsageError, match="no jupyter-mlops hub found"):
        ip.run_line_magic("mlops", "connect")
    with pytest.raises(
        UsageError, match=re.escape("cannot reach the jupyter-mlops hub at http://127.0.0.1:9/")
    ):
        ip.run_line_magic("mlops", "connect http://127.0.0.1:9/ --token x")
    with pytest.raises(UsageError, match="usage"):
        ip.run_line_magic("mlops", "frobnicate")
    with pytest.raises(UsageError, match="not defined in this notebook: nothing"):
        ip.run_line_magic("mlops", "worker nothing --defaults nothing --name x")


def test_connect_status_and_stop_against_a_real_hub(ip, mlops_server, capsys) -> None:
    with pytest.raises(UsageError, match="refused the token"):
        ip.run_line_magic("mlops", f"connect {mlops_server.url} --token wrong")
    ip.run_line_magic("mlops", f"connect {mlops_server.url} --token {mlops_server.token}")
    assert f"connected to the hub at {mlops_server.url}" in capsys.readouterr().out
    assert mlops_server.token not in repr(registry.current_hub())

    def train(params, callbacks):  # never called: no job is launched here
        raise AssertionError

    ip.user_ns.update(train=train, CONF_OBJ=DEFAULTS, NOTEBOOK_ID="magic-worker")
    ip.run_line_magic("mlops", "worker train --defaults CONF_OBJ --name NOTEBOOK_ID")
    assert "worker magic-worker started (connected)" in capsys.readouterr().out
    workers = mlops_server.api("GET", "workers")[1]["workers"]
    assert [(w["name"], w["online"], w["defaults"]) for w in workers] == [
        ("magic-worker", True, DEFAULTS)
    ]
    ip.run_line_magic("mlops", "status")
    out = capsys.readouterr().out
    assert "worker   magic-worker" in out and "connected" in out and "idle" in out
    ip.run_line_magic("mlops", "stop")
    assert "worker stopped" in capsys.readouterr().out
    online = lambda: not mlops_server.api("GET", "workers")[1]["workers"][0]["online"]  # noqa: E731
    mlops_server.wait_for(online, timeout=10)

"""``%mlops connect URL`` takes the token from JUPYTER_MLOPS_TOKEN or a hidden prompt, never a cell.

Tested in-process in an IPython shell against a real server, with a scoped worker token.
"""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_mlops.kernel_client.worker import magics, registry
from tests.support.workers import DEFAULTS


class Prompt:
    """Stands in for ``getpass.getpass``: records the prompt, answers ``answer``."""

    def __init__(self, answer: str | BaseException) -> None:
        self.answer, self.prompts = answer, []

    def __call__(self, prompt: str = "") -> str:
        self.prompts.append(prompt)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def test_connect_takes_the_token_from_the_environment_or_a_hidden_prompt(
    ip: InteractiveShell, mlops_server: Any, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _, issued = mlops_server.api("POST", "tokens", {"name": "colab", "scope": "worker"})
    secret = issued["secret"]

    prompt = Prompt(secret)  # no token anywhere: asked for, hidden
    monkeypatch.setattr(magics.getpass, "getpass", prompt)
    ip.run_line_magic("mlops", f"connect {mlops_server.url}")
    assert len(prompt.prompts) == 1 and "hidden" in prompt.prompts[0]
    assert f"connected to the hub at {mlops_server.url}" in capsys.readouterr().out
    assert registry.current_hub().token == secret  # type: ignore[union-attr]
    assert secret not in repr(registry.current_hub())

    monkeypatch.setenv("JUPYTER_MLOPS_TOKEN", secret)  # a Colab secret / the shell: no prompt
    monkeypatch.setattr(magics.getpass, "getpass", Prompt(AssertionError("asked")))
    ip.run_line_magic("mlops", f"connect {mlops_server.url}")
    assert registry.current_hub().token == secret  # type: ignore[union-attr]
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err

    def train(params, callbacks):  # never called: no job is launched here
        raise AssertionError

    ip.user_ns.update(train=train, CONF_OBJ=DEFAULTS, NOTEBOOK_ID="colab-worker")
    ip.run_line_magic("mlops", "worker train --defaults CONF_OBJ --name NOTEBOOK_ID")
    assert "worker colab-worker started (connected)" in capsys.readouterr().out
    (row,) = mlops_server.api("GET", "workers")[1]["workers"]
    assert (row["name"], row["online"], row["token_id"]) == (
        "colab-worker",
        True,
        issued["token"]["id"],
    )
    ip.run_line_magic("mlops", "stop")


def test_token_in_the_cell_works_but_warns_and_no_stdin_says_what_to_do(
    ip: InteractiveShell, mlops_server: Any, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    ip.run_line_magic("mlops", f"connect {mlops_server.url} --token {mlops_server.token}")
    captured = capsys.readouterr()
    assert "connected to the hub" in captured.out
    assert "--token leaves the token in this notebook's source" in captured.err
    assert "JUPYTER_MLOPS_TOKEN" in captured.err

    monkeypatch.setattr(magics.getpass, "getpass", Prompt(EOFError()))
    with pytest.raises(UsageError, match="set JUPYTER_MLOPS_TOKEN"):
        ip.run_line_magic("mlops", f"connect {mlops_server.url}")

    monkeypatch.setattr(magics.getpass, "getpass", Prompt("mlops_not_a_token"))
    with pytest.raises(UsageError, match="refused the token"):
        ip.run_line_magic("mlops", f"connect {mlops_server.url}")

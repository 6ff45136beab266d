"""Docs that cannot drift: README and docs/API.md name every route and message type."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jupyter_mlops import messages
from jupyter_mlops.serverext.routes import ROUTES

ROOT = Path(__file__).resolve().parents[2]
API_DOC = (ROOT / "docs" / "API.md").read_text()
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("template", [t for t, _ in ROUTES])
def test_api_doc_lists_every_route(template: str) -> None:
    assert f"`{template}`" in API_DOC or f"`/mlops/api{template}`" in API_DOC


@pytest.mark.parametrize(
    "kind",
    sorted(
        {
            *messages.WORKER_TO_HUB,
            *messages.EVENT_TYPES,
            *messages.HUB_TO_WORKER,
            *messages.SUBSCRIBER_TYPES,
        }
    ),
)
def test_api_doc_lists_every_message_type(kind: str) -> None:
    assert f"`{kind}`" in API_DOC


def test_readme_points_to_the_api_doc_and_gives_two_setup_commands() -> None:
    assert "docs/API.md" in README
    assert "bash scripts/start.sh" in README and "bash scripts/test.sh" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci


def test_the_panel_mirrors_the_subscriber_message_types() -> None:
    types_ts = (ROOT / "labextension" / "src" / "types.ts").read_text()
    match = re.search(r"SUBSCRIBER_MESSAGE_TYPES = \[(.*?)\] as const", types_ts, re.S)
    assert match, "labextension/src/types.ts must export SUBSCRIBER_MESSAGE_TYPES"
    assert tuple(re.findall(r"'(\w+)'", match.group(1))) == messages.SUBSCRIBER_TYPES


PROTOCOL_NAMES = {
    *messages.WORKER_TO_HUB,
    *messages.EVENT_TYPES,
    *messages.HUB_TO_WORKER,
    *messages.SUBSCRIBER_TYPES,
}


def _protocol_literals(path: Path) -> set[str]:
    """Message types spelled as literals (``"type": "x"`` or ``emit("x"``) in a module."""
    source = path.read_text()
    found = set(re.findall(r"""["']type["']\s*:\s*["'](\w+)["']""", source))
    found |= set(re.findall(r"""\.emit\(\s*["'](\w+)["']""", source))
    return found & PROTOCOL_NAMES


@pytest.mark.parametrize(
    "path",
    sorted(
        p.relative_to(ROOT)
        for p in (ROOT / "jupyter_mlops").rglob("*.py")
        if p.name != "messages.py"
    ),
    ids=str,
)
def test_no_module_spells_a_message_type_outside_the_protocol_module(path: Path) -> None:
    assert not _protocol_literals(ROOT / path), "use the constants of jupyter_mlops/messages.py"

"""Docs that cannot drift: README and docs/API.md name every route and message type."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mlops import messages
from jupyter_mlops.serverext.routes import ROUTES

ROOT = Path(__file__).parent.parent
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

"""Hostile files for the "nothing a worker uploads is ever executed" tests.

A pickle whose loading creates a canary file (proof that code ran), and model files of the
first format (an executable program inside) that carry such a payload.
"""

from __future__ import annotations

import io
import json
import pathlib
import pickle
import zipfile
from pathlib import Path
from typing import Any


class Touch:
    """Unpickling this object runs ``Path(canary).touch()``."""

    def __init__(self, canary: Path) -> None:
        self.canary = str(canary)

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (pathlib.Path(self.canary),))


def pickle_payload(canary: Path) -> bytes:
    """Plain pickle bytes that create ``canary`` when loaded."""
    return pickle.dumps({"epoch": 1, "model": Touch(canary)})


def legacy_metadata(**extra: Any) -> dict[str, Any]:
    """The metadata of a first-format (torch.export) model file."""
    return {
        "format_version": 1,
        "program": "torch.export",
        "program_file": "program.pt2",
        "classes": [f"class{i}" for i in range(10)],
        "input_size": [3, 16, 16],
        "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3},
        "sha1": "1" * 40,
        "param_count": 10,
        "metrics": {"test_accuracy": 0.999},
        **extra,
    }


def legacy_model_file(canary: Path, program: str = "torch.export") -> bytes:
    """A first-format model file whose program entry is a pickle that touches ``canary``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(legacy_metadata(program=program)))
        archive.writestr("program.pt2", pickle_payload(canary))
        archive.writestr("weights.pkl", pickle_payload(canary))
    return buffer.getvalue()


def archive_with(members: dict[str, bytes]) -> bytes:
    """A zip archive of ``members`` (name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()

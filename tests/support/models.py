"""Real model files for tests: tiny CNNs exported with the product's own model-file code.

Exporting to ONNX takes a few seconds, so each network (architecture and seed) is exported
once per test process; later files of the same network reuse its checked graph with new
metadata (metrics, hyperparameters), exactly as the worker would have written them.
"""

from __future__ import annotations

import functools
import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_mlops.modelfile import GRAPH_NAME, METADATA_NAME, write_model_file


def tiny_classifier(channels: int = 3, classes: int = 10, seed: int = 0) -> Any:
    """A very small CNN for any square input (adaptive pooling), randomly initialised."""
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(channels, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(64, classes),
    )


_EXPORTED: dict[tuple[Any, ...], bytes] = {}


def exported(key: tuple[Any, ...], build: Callable[[], Any], shape: tuple[int, ...]) -> bytes:
    """The model file bytes of ``build()`` exported once per process (``key`` names it)."""
    if key not in _EXPORTED:
        import torch

        from jupyter_mlops.modelfile import save_model_file

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.zip"
            save_model_file(build(), path, example_input=torch.zeros(shape), classes=[])
            _EXPORTED[key] = path.read_bytes()
    return _EXPORTED[key]


def write_variant(path: Path, template: bytes, **metadata: Any) -> dict[str, Any]:
    """Write ``template``'s graph at ``path`` with its metadata updated by ``metadata``."""
    with zipfile.ZipFile(io.BytesIO(template)) as archive:
        graph = archive.read(GRAPH_NAME)
        base = json.loads(archive.read(METADATA_NAME))
    return write_model_file(path, graph, {**base, **metadata})


def make_model_file(path: Path, *, accuracy: float, seed: int = 0, **metrics: Any) -> dict:
    """A tiny 3x16x16 classifier with ``test_accuracy = accuracy``; return its metadata."""
    build = functools.partial(tiny_classifier, 3, 10, seed)
    template = exported(("tiny", seed), build, (2, 3, 16, 16))
    return write_variant(
        path,
        template,
        classes=[f"class{i}" for i in range(10)],
        normalization={"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        hyperparameters={"seed": seed},
        metrics={"test_accuracy": accuracy, **metrics},
    )

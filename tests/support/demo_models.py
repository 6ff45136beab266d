"""Model files and images for the demo tests and benchmark (the seed's kind of CNN, exported)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from tests.support.models import exported, write_variant

CIFAR_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
CIFAR_NORMALIZATION = {"mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616]}


def tiny_cnn(channels: int = 3, size: int = 16, classes: int = 10, seed: int = 0) -> Any:
    """The seed's kind of CNN (two conv blocks, a dense layer), randomly initialized."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(channels, 20, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(20, 20, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(20 * (size // 4) ** 2, 128),
        nn.ReLU(),
        nn.Linear(128, classes),
    )


def make_demo_model(
    path: str | Path,
    *,
    seed: int = 0,
    channels: int = 3,
    size: int = 16,
    classes: list[str] | None = None,
    accuracy: float = 0.5,
    module: Any = None,
) -> dict[str, Any]:
    """Write an ONNX model file of the seed's kind of CNN and return its metadata.

    The network of one (seed, shape) is exported once per process; ``module`` exports that
    module instead, every time.
    """
    import torch

    from jupyter_mlops.modelfile import save_model_file

    classes = classes or CIFAR_CLASSES
    normalization = CIFAR_NORMALIZATION if channels == 3 else {"mean": [0.5], "std": [0.25]}
    details: dict[str, Any] = {
        "classes": classes,
        "normalization": normalization,
        "hyperparameters": {"SEED": seed},
        "metrics": {"test_accuracy": accuracy, "test_loss": 1.0 - accuracy},
    }
    if module is not None:
        return save_model_file(
            module, path, example_input=torch.zeros(2, channels, size, size), **details
        )
    template = exported(
        ("demo", seed, channels, size, len(classes)),
        lambda: tiny_cnn(channels, size, len(classes), seed),
        (2, channels, size, size),
    )
    return write_variant(Path(path), template, **details)


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    """A generated PNG with a colour gradient."""
    from PIL import Image

    image = Image.new("RGB", (width, height))
    image.putdata(
        [(x * 255 // width, y * 255 // height, 90) for y in range(height) for x in range(width)]
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()

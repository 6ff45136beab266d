"""Real model files for tests: a tiny CNN exported with the product's own model-file code."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def make_model_file(path: Path, *, accuracy: float, seed: int = 0, **metrics: Any) -> dict:
    """Export a tiny 3x16x16 classifier with ``test_accuracy = accuracy``; return metadata."""
    import torch

    from jupyter_mlops.modelfile import save_model_file

    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 10),
    )
    return save_model_file(
        model,
        path,
        example_input=torch.zeros(2, 3, 16, 16),
        classes=[f"class{i}" for i in range(10)],
        normalization={"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        hyperparameters={"seed": seed},
        metrics={"test_accuracy": accuracy, **metrics},
    )

"""The tutorial's CNN: two convolution blocks and a dense layer, as in the seed notebook."""

from __future__ import annotations

import torch
from torch import nn


class CifarNet(nn.Module):
    """Two blocks of (convolution, ReLU, 2x2 max pool), then a dense layer and the classifier.

    ``kernel_size`` and ``num_filters`` shape both convolutions, ``dense_width`` is the hidden
    dense layer; with 3, 20 and 128 on 3x16x16 inputs it has 46,558 parameters.
    """

    def __init__(
        self,
        kernel_size: int = 3,
        num_filters: int = 20,
        dense_width: int = 128,
        num_classes: int = 10,
        in_channels: int = 3,
        input_size: int = 16,
    ) -> None:
        super().__init__()
        padding = kernel_size // 2  # "same" size for odd kernels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, num_filters, kernel_size, padding=padding),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(num_filters, num_filters, kernel_size, padding=padding),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, input_size, input_size)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, dense_width),
            nn.ReLU(),
            nn.Linear(dense_width, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def count_parameters(model: nn.Module) -> int:
    """How many numbers the model learns."""
    return sum(p.numel() for p in model.parameters())

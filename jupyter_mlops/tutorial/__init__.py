"""The tutorial's reusable training code: data, the CNN, train/test, and ``run_trial``.

Nothing here knows about Jupyter; the notebook ``train_cifar.ipynb``, the tests and the
benchmark all use these same functions.
"""

from __future__ import annotations

from jupyter_mlops.tutorial.data import (
    CIFAR_CLASSES,
    ImageData,
    load_data,
    load_digits_as_images,
    read_cifar_folder,
    write_tiny_cifar,
)
from jupyter_mlops.tutorial.model import CifarNet, count_parameters
from jupyter_mlops.tutorial.training import (
    evaluate,
    make_loader,
    pick_device,
    run_trial,
    train_epoch,
)

__all__ = [
    "CIFAR_CLASSES",
    "CifarNet",
    "ImageData",
    "count_parameters",
    "evaluate",
    "load_data",
    "load_digits_as_images",
    "make_loader",
    "pick_device",
    "read_cifar_folder",
    "run_trial",
    "train_epoch",
    "write_tiny_cifar",
]

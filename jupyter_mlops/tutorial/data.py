"""Image data for the tutorial: CIFAR-10 downscaled to 16x16, or scikit-learn's digits offline.

Order of preference: a local ``cifar-10-batches-py`` folder (read directly, no md5 check, so
a generated test copy works too); a torchvision download where the internet is reachable;
otherwise scikit-learn's bundled ``load_digits`` (real 8x8 digit images) resized to the same
3x16x16 input, with a plain message that says so. Nothing is ever faked for the user.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATA_DIR_ENV = "MLOPS_DATA_DIR"
DOWNLOAD_ENV = "MLOPS_DATA_DOWNLOAD"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
CIFAR_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
INPUT_SIZE = 16


@dataclass
class ImageData:
    """Normalized train/test tensors (N, 3, 16, 16) with labels and how to normalize new images."""

    train_x: Any
    train_y: Any
    test_x: Any
    test_y: Any
    classes: list[str]
    normalization: dict[str, list[float]]
    source: str

    def __repr__(self) -> str:
        return (
            f"ImageData({self.source}: {len(self.train_y)} train / {len(self.test_y)} test "
            f"images of {list(self.train_x.shape[1:])}, {len(self.classes)} classes)"
        )


def default_data_dir() -> Path:
    """``$MLOPS_DATA_DIR``, else ``~/.cache/jupyter-mlops/data``."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return Path.home() / ".cache" / "jupyter-mlops" / "data"


def find_cifar_folder(data_dir: str | os.PathLike[str]) -> Path | None:
    """The ``cifar-10-batches-py`` folder in ``data_dir`` (or ``data_dir`` itself), if complete."""
    for folder in (Path(data_dir), Path(data_dir) / FOLDER):
        if all((folder / name).is_file() for name in [*TRAIN_BATCHES, TEST_BATCH]):
            return folder
    return None


def _unpickle(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def read_cifar_folder(folder: str | os.PathLike[str]) -> tuple[Any, Any, Any, Any, list[str]]:
    """Read the pickle layout: uint8 images (N, 3, 32, 32) and int64 labels, train and test."""
    import numpy as np

    folder = Path(folder)

    def read(names: list[str]) -> tuple[Any, Any]:
        xs, ys = [], []
        for name in names:
            batch = _unpickle(folder / name)
            xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch["labels"], dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    train_x, train_y = read(TRAIN_BATCHES)
    test_x, test_y = read([TEST_BATCH])
    classes = list(CIFAR_CLASSES)
    if (folder / "batches.meta").is_file():
        names = _unpickle(folder / "batches.meta").get("label_names")
        if names:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return train_x, train_y, test_x, test_y, classes


def write_tiny_cifar(
    data_dir: str | os.PathLike[str], per_batch: int = 40, test: int = 100, seed: int = 0
) -> Path:
    """Write a small test set in the real CIFAR-10 pickle layout; return its folder.

    For tests and benchmarks only: each class has its own colour and stripe pattern plus
    noise, so a model can learn it. The images are generated, which is why the user-facing
    loader never makes them up on its own.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    folder = Path(data_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    palette = rng.integers(30, 225, size=(10, 3))
    rows = np.arange(32).reshape(1, 32, 1)

    def images(count: int) -> tuple[Any, list[int]]:
        labels = rng.integers(0, 10, size=count)
        stripes = ((rows // (2 + labels.reshape(-1, 1, 1) % 5)) % 2) * 40 - 20
        base = palette[labels][:, :, None, None] + stripes[:, None, :, :]
        noisy = base + rng.normal(0, 25, size=(count, 3, 32, 32))
        data = np.clip(noisy, 0, 255).astype(np.uint8).reshape(count, 3072)
        return data, [int(x) for x in labels]

    def dump(name: str, count: int) -> None:
        data, labels = images(count)
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data}, f)

    for name in TRAIN_BATCHES:
        dump(name, per_batch)
    dump(TEST_BATCH, test)
    with open(folder / "batches.meta", "wb") as f:
        meta = {b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_vis": 3072}
        pickle.dump(meta, f)
    return folder


def _download(data_dir: Path) -> Path:
    """Download CIFAR-10 with torchvision (raises when the internet cannot be reached)."""
    from torchvision.datasets import CIFAR10

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        CIFAR10(root=str(data_dir), train=True, download=True)
    finally:
        socket.setdefaulttimeout(previous)
    folder = find_cifar_folder(data_dir)
    if folder is None:
        raise FileNotFoundError(f"the download left no {FOLDER} in {data_dir}")
    return folder


def _to_tensors(
    train_x: Any, train_y: Any, test_x: Any, test_y: Any
) -> tuple[Any, Any, Any, Any, dict[str, list[float]]]:
    """uint8 (N, C, H, W) -> float 16x16 in [0, 1], normalized per channel by train statistics."""
    import torch
    import torch.nn.functional as F

    def shrink(x: Any) -> Any:
        t = torch.as_tensor(x, dtype=torch.float32) / 255.0
        return F.interpolate(t, size=(INPUT_SIZE, INPUT_SIZE), mode="area")

    tr, te = shrink(train_x), shrink(test_x)
    mean = tr.mean(dim=(0, 2, 3))
    std = tr.std(dim=(0, 2, 3)).clamp_min(1e-6)
    norm = {"mean": [round(float(m), 6) for m in mean], "std": [round(float(s), 6) for s in std]}

    def apply(t: Any) -> Any:
        return ((t - mean[None, :, None, None]) / std[None, :, None, None]).contiguous()

    labels = (torch.as_tensor(train_y, dtype=torch.long), torch.as_tensor(test_y, dtype=torch.long))
    return apply(tr), labels[0], apply(te), labels[1], norm


def load_digits_as_images(seed: int = 0, test_fraction: float = 0.2) -> ImageData:
    """scikit-learn's bundled digits (1,797 real 8x8 images) as 3x16x16 inputs, split 80/20."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0 * 255.0).astype(np.uint8)[:, None, :, :].repeat(3, axis=1)
    order = np.random.default_rng(seed).permutation(len(images))
    cut = int(len(images) * (1 - test_fraction))
    train, test = order[:cut], order[cut:]
    tx, ty, vx, vy, norm = _to_tensors(
        images[train], digits.target[train], images[test], digits.target[test]
    )
    classes = [str(n) for n in digits.target_names]
    return ImageData(tx, ty, vx, vy, classes, norm, "scikit-learn digits (resized to 3x16x16)")


def load_data(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool | None = None,
    limit: int | None = None,
) -> ImageData:
    """CIFAR-10 at 16x16 from ``data_dir`` (downloaded if allowed), else digits, saying so.

    ``download`` defaults to ``$MLOPS_DATA_DOWNLOAD`` (``0`` turns it off), else True.
    ``limit`` keeps only the first N training images (quick experiments).
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if download is None:
        download = os.environ.get(DOWNLOAD_ENV, "1") not in ("0", "false", "no")
    folder = find_cifar_folder(data_dir)
    reason = f"no {FOLDER} folder in {data_dir}"
    if folder is None and download:
        print(f"CIFAR-10 not found in {data_dir}: downloading it (about 170 MB) ...")
        try:
            folder = _download(data_dir)
        except Exception as exc:
            reason += f" and the download failed ({type(exc).__name__}: {exc})"
    elif folder is None:
        reason += f" and downloading is turned off ({DOWNLOAD_ENV}=0)"
    if folder is None:
        print(
            f"CIFAR-10 is not available: {reason}.\n"
            "Using scikit-learn's bundled digits data set instead (1,797 real 8x8 images of "
            "handwritten digits, resized to 3x16x16) so the tutorial still runs end to end.\n"
            f"To train on CIFAR-10, put a {FOLDER} folder in {data_dir} "
            f"(or point {DATA_DIR_ENV} at one) and run this cell again."
        )
        return load_digits_as_images()
    train_x, train_y, test_x, test_y, classes = read_cifar_folder(folder)
    if limit:
        train_x, train_y = train_x[:limit], train_y[:limit]
    tx, ty, vx, vy, norm = _to_tensors(train_x, train_y, test_x, test_y)
    return ImageData(tx, ty, vx, vy, classes, norm, f"CIFAR-10 from {folder}")

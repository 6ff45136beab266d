"""Tutorial data: the CIFAR-10 pickle layout without md5 checks, and the offline fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mlops.tutorial import CIFAR_CLASSES, load_data, read_cifar_folder, write_tiny_cifar


def test_tiny_set_has_the_real_layout_and_loads_at_16x16(tmp_path: Path) -> None:
    folder = write_tiny_cifar(tmp_path, per_batch=20, test=30)
    names = sorted(p.name for p in folder.iterdir())
    expected = ["batches.meta", *[f"data_batch_{i}" for i in range(1, 6)], "test_batch"]
    assert names == expected
    train_x, _, test_x, test_y, classes = read_cifar_folder(folder)
    assert train_x.shape == (100, 3, 32, 32) and str(train_x.dtype) == "uint8"
    assert test_x.shape == (30, 3, 32, 32) and len(test_y) == 30
    assert classes == CIFAR_CLASSES

    data = load_data(tmp_path, download=False)
    assert tuple(data.train_x.shape) == (100, 3, 16, 16)
    assert tuple(data.test_x.shape) == (30, 3, 16, 16)
    assert data.classes == CIFAR_CLASSES
    assert data.source.startswith("CIFAR-10")
    assert abs(float(data.train_x.mean())) < 0.05  # normalized per channel
    assert len(data.normalization["mean"]) == 3 and len(data.normalization["std"]) == 3


def test_the_data_dir_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    write_tiny_cifar(tmp_path, per_batch=10, test=10)
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path))
    assert len(load_data(download=False).train_y) == 50


def test_offline_without_a_copy_says_so_and_uses_real_digits(tmp_path: Path, capsys) -> None:
    data = load_data(tmp_path / "empty", download=False)
    out = capsys.readouterr().out
    assert "CIFAR-10 is not available" in out and "digits" in out
    assert "MLOPS_DATA_DIR" in out
    assert data.source.startswith("scikit-learn digits")
    assert tuple(data.train_x.shape[1:]) == (3, 16, 16)
    assert len(data.train_y) + len(data.test_y) == 1797
    assert data.classes == [str(i) for i in range(10)]


def test_a_failed_download_falls_back_with_the_reason(tmp_path: Path, monkeypatch, capsys) -> None:
    def offline(data_dir: Path) -> Path:
        raise OSError("Name or service not known")

    monkeypatch.setattr("jupyter_mlops.tutorial.data._download", offline)
    data = load_data(tmp_path, download=True)
    out = capsys.readouterr().out
    assert "download failed (OSError: Name or service not known)" in out
    assert data.source.startswith("scikit-learn digits")


def test_torchvision_would_reject_the_generated_files(tmp_path: Path) -> None:
    """Why our own reader exists: torchvision checks md5 sums even with download=False."""
    torchvision = pytest.importorskip("torchvision")
    write_tiny_cifar(tmp_path, per_batch=5, test=5)
    with pytest.raises(RuntimeError):
        torchvision.datasets.CIFAR10(root=str(tmp_path), train=True, download=False)

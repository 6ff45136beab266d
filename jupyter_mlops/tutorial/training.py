"""Train and test functions for the tutorial; they report through callbacks, never to Jupyter.

``run_trial(params, callbacks)`` is what the notebook hands to the worker: it builds the CNN
from the trial's hyperparameters, trains for EPOCHS epochs (evaluating on the test set after
each), and returns a :class:`~jupyter_mlops.kernel_client.callbacks.TrialResult`. After each
epoch it hands a checkpoint (model, optimizer and shuffling state) to
``callbacks.on_checkpoint``; given ``callbacks.resume_state`` it continues after that epoch.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from jupyter_mlops.evidence import evaluation_record, fingerprint
from jupyter_mlops.kernel_client import CallbackList, TrialResult, as_callback_list
from jupyter_mlops.tutorial.data import ImageData, load_data
from jupyter_mlops.tutorial.model import CifarNet, count_parameters

_data: ImageData | None = None


def pick_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cached_data() -> ImageData:
    """Load the data once per process (the notebook passes its own instead)."""
    global _data
    if _data is None:
        _data = load_data()
    return _data


def make_loader(x: Any, y: Any, batch_size: int, *, shuffle: bool, seed: int = 0) -> DataLoader:
    """Batches of (images, labels); shuffled reproducibly for training."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=generator
    )


def train_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    epoch: int,
    epochs: int,
    callbacks: CallbackList | None = None,
    prints: int = 10,
) -> dict[str, float]:
    """One pass over the training data; returns the mean loss and the accuracy."""
    callbacks = as_callback_list(callbacks)
    callbacks.on_train_epoch_start(epoch, epochs)
    model.train()
    batches = len(loader)
    every = max(1, batches // max(1, prints))
    total_loss, correct, seen = 0.0, torch.zeros((), device=device), 0
    for batch, (x, y) in enumerate(loader, 1):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        output = model(x)
        loss = F.cross_entropy(output, y)
        loss.backward()
        optimizer.step()
        loss_value = loss.item()
        total_loss += loss_value * len(y)
        correct += (output.argmax(1) == y).sum()
        seen += len(y)
        callbacks.on_train_batch_end(epoch, batch, batches, loss_value)
        if batch % every == 0 or batch == batches:
            print(f"epoch {epoch}/{epochs}  batch {batch}/{batches}  loss {loss_value:.4f}")
    return {
        "train_loss": total_loss / max(1, seen),
        "train_accuracy": correct.item() / max(1, seen),
    }


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device,
    classes: list[str],
    correct: list[bool] | None = None,
) -> dict[str, Any]:
    """Test loss, accuracy and accuracy per class on data the model never trained on.

    ``correct``, when given, receives one bool per test example, in order: whether the model
    got it right (the evidence a deploy gate compares models on).
    """
    model.eval()
    n = len(classes)
    hits, totals = torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long)
    loss_sum = 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        output = model(x)
        loss_sum += F.cross_entropy(output, y, reduction="sum").item()
        predicted = output.argmax(1).cpu()
        labels = y.cpu()
        if correct is not None:
            correct.extend((predicted == labels).tolist())
        totals += torch.bincount(labels, minlength=n)
        hits += torch.bincount(labels[predicted == labels], minlength=n)
    seen = int(totals.sum())
    per_class = {
        c: (float(hits[i]) / float(totals[i]) if totals[i] else 0.0) for i, c in enumerate(classes)
    }
    return {
        "test_accuracy": float(hits.sum()) / max(1, seen),
        "test_loss": loss_sum / max(1, seen),
        "per_class_accuracy": per_class,
    }


def build_model(params: Mapping[str, Any], data: ImageData) -> CifarNet:
    """The CNN for a trial's hyperparameters."""
    return CifarNet(
        kernel_size=int(params.get("KERNEL_SIZE", 3)),
        num_filters=int(params.get("NUM_FILTERS", 20)),
        dense_width=int(params.get("DENSE_WIDTH", 128)),
        num_classes=len(data.classes),
        in_channels=int(data.train_x.shape[1]),
        input_size=int(data.train_x.shape[-1]),
    )


def checkpoint(
    epoch: int,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
) -> dict[str, Any]:
    """What resumes training after ``epoch``: states of model, optimizer and shuffling."""
    generator = loader.generator
    return {
        "epoch": epoch,
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "shuffle_rng": generator.get_state() if generator is not None else None,
    }


def resume(
    state: Mapping[str, Any] | None,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
) -> int:
    """Load a :func:`checkpoint` into model, optimizer and loader; return its epoch (0: none)."""
    if not state:
        return 0
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if state.get("shuffle_rng") is not None and loader.generator is not None:
        loader.generator.set_state(state["shuffle_rng"])
    return int(state["epoch"])


def run_trial(
    params: Mapping[str, Any],
    callbacks: CallbackList | None = None,
    *,
    data: ImageData | None = None,
    device: torch.device | None = None,
) -> TrialResult:
    """Build, train and test one model; the worker calls this once per grid point."""
    callbacks = as_callback_list(callbacks)
    data = data if data is not None else cached_data()
    device = device or pick_device()
    epochs = int(params.get("EPOCHS", 1))
    batch_size = int(params.get("BATCH_SIZE", 10))
    seed = int(params.get("SEED", 0))
    torch.manual_seed(seed)
    model = build_model(params, data).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(params.get("LEARNING_RATE", 1e-3)))
    train = make_loader(data.train_x, data.train_y, batch_size, shuffle=True, seed=seed)
    test = make_loader(data.test_x, data.test_y, 512, shuffle=False)
    print(
        f"training {count_parameters(model):,} parameters on {device} with {data.source}: "
        f"{len(data.train_y)} train / {len(data.test_y)} test images, {len(train)} batches"
    )
    done = resume(callbacks.resume_state, model, optimizer, train)
    if done:
        print(f"resuming after epoch {done}/{epochs} (global step {done * len(train)})")
    metrics: dict[str, Any] = {}
    for epoch in range(done + 1, epochs + 1):
        started = time.perf_counter()
        train_metrics = train_epoch(model, train, optimizer, device, epoch, epochs, callbacks)
        seconds = time.perf_counter() - started
        correct: list[bool] = []  # the test example by example, for the deploy gate
        metrics = evaluate(model, test, device, data.classes, correct=correct)
        print(
            f"epoch {epoch}/{epochs} done in {seconds:.1f} s: "
            f"train loss {train_metrics['train_loss']:.4f}, "
            f"test loss {metrics['test_loss']:.4f}, test accuracy {metrics['test_accuracy']:.2%}"
        )
        numbers = {**train_metrics, "test_loss": metrics["test_loss"]}
        numbers["test_accuracy"] = metrics["test_accuracy"]
        numbers["images_per_second"] = len(data.train_y) / max(seconds, 1e-9)
        callbacks.on_train_epoch_end(epoch, numbers)
        callbacks.on_checkpoint(checkpoint(epoch, epoch * len(train), model, optimizer, train))
    if not metrics:  # resumed after the last epoch: nothing left to train
        correct = []
        metrics = evaluate(model, test, device, data.classes, correct=correct)
    callbacks.on_test_end(metrics)
    return TrialResult(
        model=model,
        metrics=metrics,
        classes=list(data.classes),
        example_input=data.test_x[:2].clone(),
        normalization=data.normalization,
        extra={"evaluation": evaluation_record(correct, fingerprint_of_test_set(data))},
    )


def fingerprint_of_test_set(data: ImageData) -> str:
    """sha256 of the test set (labels and inputs, in order), computed once per data set."""
    cached = getattr(data, "_test_fingerprint", None)
    if cached is None:
        cached = fingerprint(data.test_y, data.test_x)
        data._test_fingerprint = cached  # type: ignore[attr-defined]
    return cached

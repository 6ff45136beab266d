"""Training code as people write it: no callbacks argument, reports through ``jupyter_mlops``.

``plain_loop(params)`` is a plain PyTorch loop with a tqdm bar per epoch that calls
``jupyter_mlops.log``, ``log_text``, ``should_stop``, ``save_checkpoint`` and
``resume_state``, and returns just its model. ``lightning_fit(params)`` trains a
LightningModule with ``jupyter_mlops.lightning.MLOpsCallback`` and returns just the module.
Both train a small linear classifier on fixed random data (3 classes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

import jupyter_mlops

DEFAULTS: dict[str, Any] = {
    "EPOCHS": 3,
    "BATCHES": 4,
    "LEARNING_RATE": 0.1,
    "SEED": 0,
    "BAR_STEPS": 200,
    "TRAINER": "plain",
    "HOLD_FILE": "",  # a plain loop waits halfway through its first bar until this file exists
}
#: Set by a test to hold the loop in its second epoch until released (for a cancel).
hold_epoch_2: threading.Event | None = None
#: Set by ``plain_loop`` when it reaches the hold.
holding = threading.Event()


def data(seed: int, n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 4, 4, generator=generator)
    y = (x.mean(dim=(1, 2, 3)) * 6).round().clamp(-1, 1).long() + 1
    return x, y


def wait_for_file(path: Path, timeout: float = 120.0) -> None:
    """Wait until ``path`` exists (a test's signal to a worker in another process)."""
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline and not jupyter_mlops.should_stop():
        time.sleep(0.05)


def plain_loop(params: Mapping[str, Any]) -> nn.Module:
    """A plain loop reporting through jupyter_mlops; returns just the model."""
    from tqdm import tqdm

    epochs, batches = int(params["EPOCHS"]), int(params["BATCHES"])
    torch.manual_seed(int(params["SEED"]))
    model = jupyter_mlops.watch(nn.Sequential(nn.Flatten(), nn.Linear(48, 3)))
    optimizer = torch.optim.SGD(model.parameters(), lr=float(params["LEARNING_RATE"]))
    x, y = data(int(params["SEED"]))
    done, step = 0, 0
    state = jupyter_mlops.resume_state()
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        done, step = int(state["epoch"]), int(state["step"])
        jupyter_mlops.log_text(f"resuming after epoch {done}")
    for epoch in range(done + 1, epochs + 1):
        for chunk in tqdm(range(int(params["BAR_STEPS"])), desc=f"epoch {epoch}", mininterval=0):
            if epoch == 1 and chunk == int(params["BAR_STEPS"]) // 2 and params["HOLD_FILE"]:
                wait_for_file(Path(params["HOLD_FILE"]))
            if epoch == 2 and chunk == 0 and hold_epoch_2 is not None:
                holding.set()
                hold_epoch_2.wait(60)
            if jupyter_mlops.should_stop():
                return model
            if chunk % (int(params["BAR_STEPS"]) // batches) == 0:
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                step += 1
                jupyter_mlops.log(step=step, train_loss=loss)
        with torch.no_grad():
            accuracy = float((model(x).argmax(1) == y).float().mean())
        jupyter_mlops.log(step=epoch, accuracy=accuracy)
        jupyter_mlops.log_text(f"epoch {epoch} done\naccuracy {accuracy:.3f}")
        jupyter_mlops.save_checkpoint(
            {
                "epoch": epoch,
                "step": step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
            }
        )
    jupyter_mlops.log(test_accuracy=accuracy)
    return model


def lightning_fit(params: Mapping[str, Any]) -> nn.Module:
    """A LightningModule fit with MLOpsCallback; returns just the module."""
    import lightning.pytorch as pl

    from jupyter_mlops.lightning import MLOpsCallback

    class Classifier(pl.LightningModule):
        def __init__(self, lr: float) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(48, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.cross_entropy(self(x), y)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_accuracy", (self(x).argmax(1) == y).float().mean())

        def test_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("test_accuracy", (self(x).argmax(1) == y).float().mean())

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)
            schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
            return [optimizer], [schedule]

    torch.manual_seed(int(params["SEED"]))
    x, y = data(int(params["SEED"]))
    dataset = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=len(x) // int(params["BATCHES"]))
    module = Classifier(float(params["LEARNING_RATE"]))
    mlops = MLOpsCallback()
    trainer = pl.Trainer(
        max_epochs=int(params["EPOCHS"]),
        callbacks=[mlops],
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, loader, loader, ckpt_path=mlops.ckpt_path())
    trainer.test(module, loader, verbose=False)
    return module


def any_code(params: Mapping[str, Any]) -> nn.Module:
    """``plain_loop`` or ``lightning_fit``, as the trial's ``TRAINER`` says."""
    return (lightning_fit if params["TRAINER"] == "lightning" else plain_loop)(params)

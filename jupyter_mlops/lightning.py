"""A PyTorch Lightning callback that reports a ``Trainer.fit`` to the running trial.

Add it to the trainer of a training function the worker runs::

    from jupyter_mlops.lightning import MLOpsCallback

    def train(params):
        model = Classifier(lr=params["LEARNING_RATE"])
        mlops = MLOpsCallback()
        trainer = L.Trainer(max_epochs=params["EPOCHS"], callbacks=[mlops])
        trainer.fit(model, train_loader, val_loader, ckpt_path=mlops.ckpt_path())
        return model

It reports the loss of every training batch, the epoch and batch progress, the epoch metrics
(``trainer.callback_metrics``: what ``self.log`` logged, validation included) and the test
metrics; it watches the module for an example input (the first batch its ``forward`` sees,
or its ``example_input_array``), so the training function may return just the module; it
hands a checkpoint to the worker at the end of each epoch, and stops the trainer (at the end
of the batch) when the trial is asked to stop. Outside a trial it does nothing.

Resuming: a trial that a worker resumes (after another one stopped) gets the checkpoint of its
last stored epoch; :meth:`MLOpsCallback.ckpt_path` writes it as a Lightning checkpoint file,
which ``trainer.fit(..., ckpt_path=...)`` restores as Lightning does (module, optimizers,
schedulers, loops), continuing with the remaining epochs. The checkpoint holds only data
(tensors, numbers, strings and containers of them: it loads with ``weights_only=True``), so
what is not data is left out: the hyperparameters' type, and callback or datamodule states
that hold objects. Imports ``lightning.pytorch``, else ``pytorch_lightning``.
"""

from __future__ import annotations

import collections
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.worker import reporting
from jupyter_mlops.kernel_client.worker.callbacks import TrialCancelled

try:
    import lightning.pytorch as pl
except ImportError:  # pragma: no cover - the older package name
    try:
        import pytorch_lightning as pl  # type: ignore[no-redef]
    except ImportError:
        raise ImportError(
            "jupyter_mlops.lightning needs PyTorch Lightning: pip install lightning "
            "(or pytorch-lightning)"
        ) from None

log = logging.getLogger(__name__)

#: The key of a trial checkpoint that holds the Lightning checkpoint.
LIGHTNING_KEY = "lightning"


class MLOpsCallback(pl.Callback):
    """Reports a Lightning fit to the running jupyter-mlops trial; see the module docs.

    ``checkpoints``: hand a checkpoint to the worker at the end of each epoch (the worker's
    ``checkpoint_every`` decides which it uploads).
    """

    def __init__(self, checkpoints: bool = True) -> None:
        super().__init__()
        self.checkpoints = checkpoints
        self._trial = reporting.active()
        self._watched = False
        self._resume_file: Path | None = None

    # -- resuming -----------------------------------------------------------------------------

    def ckpt_path(self) -> str | None:
        """A Lightning checkpoint file to resume this trial from, or None (start afresh).

        Pass it to ``trainer.fit(..., ckpt_path=...)``.
        """
        state = self._trial.callbacks.resume_state if self._trial else None
        if not state or not isinstance(state.get(LIGHTNING_KEY), Mapping):
            return None
        import torch

        from jupyter_mlops.private import private_dir

        folder = private_dir(Path(tempfile.gettempdir()) / "jupyter-mlops-lightning")
        self._resume_file = folder / f"{self._trial.trial_id if self._trial else 'trial'}.ckpt"
        torch.save(dict(state[LIGHTNING_KEY]), self._resume_file)
        return str(self._resume_file)

    # -- hooks --------------------------------------------------------------------------------

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self._trial is None:
            self._trial = reporting.current()  # warns once when no trial runs
        if self._trial is None or self._watched:
            return
        self._watched = True
        example = getattr(pl_module, "example_input_array", None)
        if example is not None and hasattr(example, "detach"):
            reporting.watch(pl_module, example)
        else:
            reporting.watch(pl_module)

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        trial = self._trial
        if trial is None or not trainer.is_global_zero:
            return
        resume = trial.callbacks.resume_epoch
        if resume and trainer.ckpt_path is None:
            trial.write(
                f"this trial could resume after epoch {resume}, but trainer.fit got no "
                "ckpt_path: pass ckpt_path=callback.ckpt_path() to continue; starting afresh"
            )

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self._resume_file is not None:
            self._resume_file.unlink(missing_ok=True)
            self._resume_file = None

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self._trial is None or not trainer.is_global_zero:
            return
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 0
        self._call(trainer, "on_train_epoch_start", trainer.current_epoch + 1, epochs)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._trial is None or not trainer.is_global_zero:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        batches = trainer.num_training_batches
        batches = int(batches) if batches != float("inf") else 0
        epoch = trainer.current_epoch + 1
        self._call(trainer, "on_train_batch_end", epoch, batch_idx + 1, batches, loss)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        trial = self._trial
        if trial is None or not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch + 1
        self._call(trainer, "on_train_epoch_end", epoch, scalars(trainer.callback_metrics))
        last = trainer.max_epochs is not None and epoch >= trainer.max_epochs
        if self.checkpoints and not last and not trainer.should_stop:
            state = plain(trainer._checkpoint_connector.dump_checkpoint(weights_only=False))
            trial.callbacks.on_checkpoint(
                {"epoch": epoch, "step": int(trainer.global_step), LIGHTNING_KEY: state}
            )

    def on_test_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._trial is None or not trainer.is_global_zero:
            return
        metrics = {
            name: value
            for name, value in scalars(trainer.callback_metrics).items()
            if name.startswith("test")
        }
        step = int(trainer.current_epoch)
        for name, value in metrics.items():
            self._trial.callbacks.on_metric(name, value, step)
        self._trial.callbacks.on_test_end(metrics)

    # -- helpers ------------------------------------------------------------------------------

    def _call(self, trainer: Any, hook: str, *args: Any) -> None:
        """Call a training hook of the trial; a stop request stops the trainer instead."""
        assert self._trial is not None
        try:
            getattr(self._trial.callbacks, hook)(*args)
        except TrialCancelled:
            trainer.should_stop = True


def scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The single-number entries of ``trainer.callback_metrics``, as floats."""
    found: dict[str, float] = {}
    for name, value in metrics.items():
        numel = getattr(value, "numel", None)
        if numel is not None and numel() != 1:
            continue
        try:
            found[str(name)] = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            continue
    return found


_DROP = object()


def plain(value: Any) -> Any:
    """``value`` with everything that is not data left out (it must load with
    ``torch.load(weights_only=True)``): tensors, numbers, strings, None and containers."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach()
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        return value
    for kind in (bool, int, float):  # numpy scalars become plain ones
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, collections.OrderedDict):
        return collections.OrderedDict(
            (k, v) for k, v in ((k, plain(v)) for k, v in value.items()) if v is not _DROP
        )
    if isinstance(value, Mapping):
        kept = {k: plain(v) for k, v in value.items() if isinstance(k, (str, int))}
        return {k: v for k, v in kept.items() if v is not _DROP}
    if isinstance(value, (list, tuple)):
        items = [v for v in (plain(v) for v in value) if v is not _DROP]
        return items if isinstance(value, list) else tuple(items)
    return _DROP

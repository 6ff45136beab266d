"""A small synthetic-but-real trial (a linear classifier, sleep-bound epochs) and a worker process.

``synthetic_trial`` trains a real torch model with SGD on fixed random data; each epoch takes
about ``EPOCH_SECONDS`` of sleep-bound "work" split over ``BATCHES`` batches, so timings are
predictable on a busy 2-core machine. It checkpoints after every epoch and resumes from
``callbacks.resume_state``, exactly as the tutorial's ``run_trial`` does.

``objective_trial`` is the same with the tutorial's hyperparameters and a test accuracy per
epoch that is a known function of them (:func:`objective_value`): what a search's pruner and
sampler are tested on.

Run as a worker process (the hub comes from ``JUPYTER_MLOPS_URL``/``JUPYTER_MLOPS_TOKEN``)::

    python -m tests.support.synthetic --name w1 --dir /tmp/w1 [--checkpoint-every 1] [--objective]
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jupyter_mlops.kernel_client import CallbackList, TrialResult, as_callback_list

DEFAULTS: dict[str, Any] = {
    "EPOCHS": 3,
    "BATCHES": 4,
    "EPOCH_SECONDS": 0.4,
    "LEARNING_RATE": 0.1,
    "SEED": 0,
}
CLASSES = ["zero", "one"]
#: The tutorial's hyperparameters besides the synthetic ones (see ``objective_trial``).
OBJECTIVE_DEFAULTS: dict[str, Any] = {
    **DEFAULTS,
    "LEARNING_RATE": 0.001,
    "KERNEL_SIZE": 3,
    "NUM_FILTERS": 20,
    "DENSE_WIDTH": 128,
}
ROOT = Path(__file__).resolve().parents[2]


def _data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 3, 4, 4, generator=generator)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    return x, y


def objective_value(params: Mapping[str, Any], epoch: int) -> float:
    """A test accuracy after ``epoch`` epochs that depends only on the hyperparameters: best
    near LEARNING_RATE 0.003, a little better with KERNEL_SIZE 3 and more filters; it rises
    with every epoch by the same factor for every trial."""
    lr = float(params["LEARNING_RATE"])
    quality = 0.55 + 0.35 * math.exp(-((math.log10(lr) + 2.5) ** 2))
    quality += 0.02 * (int(params["KERNEL_SIZE"]) == 3) + 0.0005 * int(params["NUM_FILTERS"])
    quality += 0.00001 * int(params["DENSE_WIDTH"])
    return quality * (1 - 0.5**epoch)


def synthetic_trial(
    params: Mapping[str, Any],
    callbacks: CallbackList | None = None,
    score: Callable[[Mapping[str, Any], int], float] | None = None,
) -> Any:
    """Train a linear classifier for EPOCHS epochs of about EPOCH_SECONDS each; with ``score``
    its ``test_accuracy`` (after each epoch, and at the end) is ``score(params, epoch)``."""
    callbacks = as_callback_list(callbacks)
    epochs, batches = int(params["EPOCHS"]), int(params["BATCHES"])
    pause = float(params["EPOCH_SECONDS"]) / batches
    torch.manual_seed(int(params.get("SEED", 0)))
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, len(CLASSES)))
    optimizer = torch.optim.SGD(model.parameters(), lr=float(params["LEARNING_RATE"]))
    x, y = _data(int(params.get("SEED", 0)))
    step, done = 0, 0
    state = callbacks.resume_state
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, done = int(state["step"]), int(state["epoch"])
        print(f"continuing after epoch {done} at step {step}")
    loss = torch.zeros(())
    for epoch in range(done + 1, epochs + 1):
        callbacks.on_train_epoch_start(epoch, epochs)
        for batch in range(1, batches + 1):
            time.sleep(pause)
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            step += 1
            callbacks.on_train_batch_end(epoch, batch, batches, loss.item())
        print(f"epoch {epoch}/{epochs} step {step} loss {loss.item():.4f}")
        numbers = {"train_loss": loss.item()}
        if score is not None:
            numbers["test_accuracy"] = score(params, epoch)
        callbacks.on_epoch_end(epoch, numbers)
        callbacks.on_checkpoint(
            {
                "epoch": epoch,
                "step": step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
            }
        )
    with torch.no_grad():
        out = model(x)
        accuracy = float((out.argmax(1) == y).float().mean())
        test_loss = float(nn.functional.cross_entropy(out, y))
    if score is not None:
        accuracy = score(params, epochs)
    metrics = {"test_accuracy": accuracy, "test_loss": test_loss, "steps": step}
    callbacks.on_test_end(metrics)
    return TrialResult(model, metrics, list(CLASSES), x[:2].clone())


objective_trial = functools.partial(synthetic_trial, score=objective_value)


class WorkerProcess:
    """``python -m tests.support.synthetic`` as a child process: one Worker, output in a file."""

    def __init__(
        self,
        hub_env: Mapping[str, str],
        name: str,
        base: Path,
        checkpoint_every: int = 1,
        warm_up: bool = False,
        upload_backoff: float | None = None,
        objective: bool = False,
    ) -> None:
        self.name = name
        self.dir = base / name
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "tests.support.synthetic"]
        args += ["--name", name, "--dir", str(self.dir)]
        args += ["--checkpoint-every", str(checkpoint_every)] + (["--warm-up"] if warm_up else [])
        if upload_backoff is not None:
            args += ["--upload-backoff", str(upload_backoff)]
        if objective:  # objective_trial with OBJECTIVE_DEFAULTS
            args.append("--objective")
        # appended: a worker restarted in the same folder keeps the dead one's output
        self.out = open(self.dir / "process.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **hub_env, "PYTHONPATH": str(ROOT)},
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )

    def signal(self, sig: int) -> None:
        """Send ``sig`` to this worker process (SIGSTOP, SIGCONT, SIGKILL ...)."""
        self.process.send_signal(sig)

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.out.close()

    def log_text(self, job_id: int) -> str:
        """The worker's local log of a job ('' when it has none)."""
        path = self.dir / "logs" / f"{job_id}.log"
        return path.read_text() if path.exists() else ""


def main() -> None:
    """Run one worker with :func:`synthetic_trial` until SIGTERM/SIGINT."""
    from jupyter_mlops.kernel_client import Worker
    from jupyter_mlops.kernel_client.hub_client import Backoff, discover

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--checkpoint-every", type=int, default=1)
    parser.add_argument("--warm-up", action="store_true", help="export a model once first")
    parser.add_argument(
        "--upload-backoff", type=float, default=None, help="seconds between model upload tries"
    )
    parser.add_argument(
        "--objective", action="store_true", help="train objective_trial (OBJECTIVE_DEFAULTS)"
    )
    args = parser.parse_args()
    if args.warm_up:  # the first torch.export in a process is slow; keep it out of timings
        import tempfile

        from jupyter_mlops.modelfile import save_model_file

        result = synthetic_trial({**DEFAULTS, "EPOCHS": 1, "EPOCH_SECONDS": 0})
        with tempfile.TemporaryDirectory() as tmp:
            save_model_file(
                result.model,
                Path(tmp) / "warm.zip",
                example_input=result.example_input,
                classes=result.classes,
            )
    worker = Worker(
        objective_trial if args.objective else synthetic_trial,
        OBJECTIVE_DEFAULTS if args.objective else DEFAULTS,
        args.name,
        discover(),
        local_dir=args.dir,
        echo=False,
        backoff_max=1.0,
        checkpoint_every=args.checkpoint_every,
        **(
            {"upload_backoff": Backoff(args.upload_backoff, args.upload_backoff)}
            if args.upload_backoff
            else {}
        ),
    )
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    worker.start()
    print(f"worker {worker.name} ready", flush=True)
    done.wait()
    worker.stop(timeout=5.0)
    sys.exit(0)


if __name__ == "__main__":
    main()

"""Benchmark: grid vs random vs TPE with successive halving (ASHA), at one budget of epochs.

The tutorial's CNN (``jupyter_mlops.tutorial.run_trial``) on scikit-learn's bundled digits,
over a 4-axis space (learning rate, batch size, filters, dense width; every axis a list of
choices, so every method searches the same points). Per seed (the training seed, and the
sampler's seed):

- **grid**: every point in the conf's order (``validate_conf`` expands it), ``--epochs`` each;
  its epochs are the budget of every other method;
- **random**, **tpe** (no pruning, shown for context) and **tpe+asha**: trials asked from the
  hub's own :class:`~jupyter_mlops.serverext.search.SearchRunner` (the Optuna study in a
  journal file, the conf's sampler and pruner), each epoch's ``test_accuracy`` reported to it
  as the hub does, a pruned trial stopped through the trial's stop event (the worker's cancel
  path), the result told; trials are asked until the budget of epochs is spent (the last
  trial is cut when it runs out).

Measured: the best final test accuracy of a trial that ran to the end (a pruned trial stores
no model), and the epochs spent until a finished trial came within ``--target-points`` (0.5)
of the grid's best of the same seed. The issue's goal: TPE+ASHA reaches it in at most a third
of the grid's epochs.

A trial's per-epoch curve depends only on its hyperparameters and the seed (training on the
CPU is deterministic here), so by default each distinct point is trained once per seed, to the
last epoch, and a later trial at the same point replays those numbers epoch by epoch: the
search, its pruner and the epochs it spends are the same as with training, minus the wait.
``--retrain`` trains every trial (and stops pruned ones between batches) instead.

    python bench/bench_search.py    # 864 epochs of training: 12 min on 2 busy cores
    python bench/bench_search.py --seeds 0,1,2,3,4 --epochs 9 --retrain
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import loadavg, median  # noqa: E402

#: the 4 axes (4 x 3 x 3 x 2 = 72 points), wide enough that many points train badly in a few
#: epochs; the other hyperparameters keep the tutorial's values
SPACE: dict[str, list[Any]] = {
    "LEARNING_RATE": [1e-4, 1e-3, 1e-2, 1e-1],
    "BATCH_SIZE": [16, 64, 256],
    "NUM_FILTERS": [2, 6, 16],
    "DENSE_WIDTH": [8, 64],
}
METRIC = "test_accuracy"
REPLAY_NOTE = "each distinct point trained once per seed, replayed after"


@dataclass
class Run:
    """One method on one seed."""

    method: str
    seed: int
    best: float = float("nan")
    reached_at: int | None = None  # epochs spent when a finished trial reached the target
    spent: int = 0
    finished: int = 0
    pruned: int = 0
    cut: int = 0
    points: set[tuple[Any, ...]] = field(default_factory=set)


class Trainer:
    """Runs the tutorial's ``run_trial``; keeps each point's per-epoch curve (unless retraining)."""

    def __init__(self, epochs: int, retrain: bool) -> None:
        from jupyter_mlops.tutorial import load_digits_as_images

        self.data = load_digits_as_images()
        self.epochs, self.retrain = epochs, retrain
        self.curves: dict[tuple[Any, ...], list[float]] = {}
        self.trained_epochs = 0

    def params(self, point: Mapping[str, Any], seed: int) -> dict[str, Any]:
        return {**point, "EPOCHS": self.epochs, "SEED": seed}

    def train(self, params: Mapping[str, Any], on_epoch: Any) -> list[float]:
        """Train one trial; ``on_epoch(epoch, value)`` returns True to stop it after that epoch."""
        import contextlib
        import io

        from jupyter_mlops.kernel_client import Callback, CallbackList
        from jupyter_mlops.kernel_client.worker.callbacks import TrialCancelled
        from jupyter_mlops.tutorial import run_trial

        curve: list[float] = []
        stop = threading.Event()
        trainer = self

        class Report(Callback):
            def on_train_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
                trainer.trained_epochs += 1
                curve.append(float(metrics[METRIC]))
                if on_epoch(epoch, curve[-1]):
                    stop.set()  # as the hub's cancel does: the loop stops between batches

        callbacks = CallbackList([Report()], stop_event=stop)
        with contextlib.suppress(TrialCancelled), contextlib.redirect_stdout(io.StringIO()):
            run_trial(params, callbacks, data=self.data)
        return curve

    def run(self, point: Mapping[str, Any], seed: int, on_epoch: Any) -> int:
        """Run a trial of ``point``, calling ``on_epoch`` each epoch; return epochs run."""
        key = (seed, *(point[k] for k in SPACE))
        if self.retrain:
            return len(self.train(self.params(point, seed), on_epoch))
        if key not in self.curves:
            self.curves[key] = self.train(self.params(point, seed), lambda e, v: False)
        for epoch, value in enumerate(self.curves[key], 1):
            if on_epoch(epoch, value):
                return epoch
        return len(self.curves[key])


def run_grid(trainer: Trainer, seed: int, target_points: float) -> Run:
    from jupyter_mlops.search_space import validate_conf

    result = validate_conf(dict(SPACE))
    assert not result.errors, result.errors
    run = Run("grid", seed)
    finals: list[tuple[int, float]] = []  # (epochs spent after the trial, its final value)
    for trial in result.trials:
        point = {k: trial[k] for k in SPACE}
        last: list[float] = []
        run.spent += trainer.run(point, seed, lambda e, v, last=last: bool(last.append(v)))
        run.finished += 1
        run.points.add(tuple(point.values()))
        finals.append((run.spent, last[-1]))
    run.best = max(v for _, v in finals)
    target = run.best - target_points / 100
    run.reached_at = next(spent for spent, v in finals if v >= target - 1e-12)
    return run


def run_search(
    trainer: Trainer,
    method: str,
    pruner: str,
    seed: int,
    budget: int,
    target: float,
    folder: Path,
    rf: int,
) -> Run:
    """Ask, train, report and tell through the hub's SearchRunner until ``budget`` epochs."""
    from jupyter_mlops.search_space import validate_conf
    from jupyter_mlops.serverext.search import FAILED, FINISHED, PRUNED, SearchRunner

    section: dict[str, Any] = {"method": method, "budget": 10_000, "seed": seed}
    if pruner == "asha":
        section["pruner"] = {"type": "asha", "min_epochs": 1, "reduction_factor": rf}
    result = validate_conf({**SPACE, "search": section})
    assert not result.errors, result.errors
    spec, space = result.search, result.space
    runner = SearchRunner(folder)  # the Optuna study in a journal file, as the hub keeps it
    name = f"{method}-{pruner}-{seed}"
    run = Run(method if pruner == "none" else f"{method}+{pruner}", seed)
    while run.spent < budget:
        number, point = runner.ask(name, spec, space)
        state: dict[str, Any] = {"pruned": False, "cut": False, "last": float("nan")}

        def on_epoch(
            epoch: int, value: float, number: int = number, state: dict[str, Any] = state
        ) -> bool:
            run.spent += 1
            state["last"] = value
            if runner.report(name, spec, number, epoch, value):
                state["pruned"] = True
                return True
            if run.spent >= budget and epoch < trainer.epochs:
                state["cut"] = True  # the budget ran out mid-trial: no model from it
                return True
            return False

        trainer.run(point, seed, on_epoch)
        run.points.add(tuple(point[k] for k in SPACE))
        if state["pruned"]:
            run.pruned += 1
            runner.tell(name, spec, number, PRUNED, None)
        elif state["cut"]:
            run.cut += 1
            runner.tell(name, spec, number, FAILED, None)
        else:
            run.finished += 1
            value = float(state["last"])
            runner.tell(name, spec, number, FINISHED, value)
            if not run.best >= value:  # nan at first
                run.best = value
            if run.reached_at is None and value >= target - 1e-12:
                run.reached_at = run.spent
    return run


def fmt_pct(value: float) -> str:
    return f"{value * 100:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of a full trial")
    parser.add_argument(
        "--reduction-factor", type=int, default=3, help="ASHA: 1 of N promoted per rung"
    )
    parser.add_argument("--target-points", type=float, default=0.5)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--retrain", action="store_true", help="train every trial, no replay")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.torch_threads)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    trainer = Trainer(args.epochs, args.retrain)
    load_before, t0 = loadavg(), time.monotonic()
    methods = [("random", "none"), ("tpe", "none"), ("tpe", "asha")]
    runs: dict[str, list[Run]] = {"grid": []}
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for seed in seeds:
            grid = run_grid(trainer, seed, args.target_points)
            runs["grid"].append(grid)
            target = grid.best - args.target_points / 100
            for method, pruner in methods:
                searched = run_search(
                    trainer,
                    method,
                    pruner,
                    seed,
                    grid.spent,
                    target,
                    Path(tmp) / str(seed),
                    args.reduction_factor,
                )
                runs.setdefault(searched.method, []).append(searched)
            print(
                f"seed {seed} done after {time.monotonic() - t0:.0f} s "
                f"({trainer.trained_epochs} epochs trained)",
                file=sys.stderr,
            )
    wall = time.monotonic() - t0

    grid_epochs = runs["grid"][0].spent
    print(
        f"# bench_search: grid vs random vs TPE+ASHA on the tutorial CNN, digits\n\n"
        f"{len(runs['grid'][0].points)}-point grid over {', '.join(SPACE)} "
        f"({' x '.join(str(len(v)) for v in SPACE.values())}), {args.epochs} epochs a trial: "
        f"budget {grid_epochs} epochs per method and seed; ASHA min 1 epoch, reduction factor "
        f"{args.reduction_factor}; target: within {args.target_points} points of the grid's best "
        f"(same seed); seeds {', '.join(map(str, seeds))}; "
        f"{'every trial trained' if args.retrain else REPLAY_NOTE}; "
        f"{wall:.0f} s wall, {trainer.trained_epochs} epochs trained, "
        f"load average {load_before} at start, {loadavg()} at end.\n"
    )
    print(
        "| method | best test accuracy % (per seed) | epochs to target (per seed) "
        "| median epochs to target / grid's epochs | trials finished / pruned / cut "
        "| distinct points tried |"
    )
    print("|---|---|---|---:|---|---|")
    for method, found in runs.items():
        reached = [r.reached_at for r in found]
        done = [r for r in reached if r is not None]
        ratio = (
            f"{median([float(r) for r in done]) / grid_epochs:.2f}"
            if len(done) == len(reached)
            else f"not reached in {len(reached) - len(done)} of {len(reached)}"
        )
        print(
            f"| {method} | {' / '.join(fmt_pct(r.best) for r in found)} "
            f"| {' / '.join('-' if r is None else str(r) for r in reached)} | {ratio} "
            f"| {' / '.join(f'{r.finished}/{r.pruned}/{r.cut}' for r in found)} "
            f"| {' / '.join(str(len(r.points)) for r in found)} |"
        )
    asha = runs["tpe+asha"]
    met = sum(1 for r in asha if r.reached_at is not None and r.reached_at * 3 <= grid_epochs)
    print(
        f"\nGoal (TPE+ASHA within {args.target_points} points of the grid's best in at most a "
        f"third of the grid's {grid_epochs} epochs): met in {met} of {len(asha)} seeds."
    )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()

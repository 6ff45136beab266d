"""Searches that learn: Optuna studies run by the hub with ask-and-tell.

Each search job has one study, persisted in the store folder (``searches.log``, Optuna's
journal storage: a file, no extra database), so a hub restart resumes it. The hub *asks*
the study for a trial's hyperparameters when it has room to lease one, *reports* the
trial's per-epoch metric to the pruner, and *tells* the study the trial's result.
Optuna numbers the trials; the store keeps that number with each trial, so nothing is asked
twice, and a study trial that the store never recorded (the hub died between ask and record)
is failed on resume (:meth:`SearchRunner.fail_unrecorded`).

Samplers: ``random`` (Optuna's RandomSampler) and ``tpe`` (TPESampler with its default
startup of 10 random trials, and ``constant_liar`` so that trials running in parallel are
not asked for the same point). Pruners: ``median`` (MedianPruner) and ``asha``
(SuccessiveHalvingPruner); an epoch is one step.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from jupyter_mlops.private import private_dir, private_file
from jupyter_mlops.search_space import PRUNERS, Range, SearchSpec

log = logging.getLogger(__name__)

JOURNAL = "searches.log"
#: Fewest completed trials before parameter importances are computed.
MIN_TRIALS_FOR_IMPORTANCE = 4

#: How the hub ends a trial, as the study is told it.
FINISHED, PRUNED, FAILED = "finished", "pruned", "failed"


def _setting(spec: SearchSpec, key: str) -> int:
    """A pruner setting; validation makes it a whole number, and anything else is its
    default here (this never raises, whatever was stored)."""
    least, default, _ = PRUNERS[spec.pruner["type"]][key]
    value = spec.pruner.get(key)
    return value if type(value) is int and value >= least else default


def make_sampler(spec: SearchSpec, seed_offset: int = 0) -> Any:
    """The spec's sampler; ``seed_offset`` moves the seed on for a study resumed after a
    restart, so that it does not draw the same points again."""
    import optuna

    seed = None if spec.seed is None else spec.seed + seed_offset
    if spec.method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def make_pruner(spec: SearchSpec) -> Any:
    """The spec's pruner (an epoch is one step)."""
    import optuna

    kind = spec.pruner.get("type")
    if kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=_setting(spec, "startup_trials"),
            n_warmup_steps=_setting(spec, "warmup_epochs"),
        )
    if kind == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=_setting(spec, "min_epochs"),
            reduction_factor=_setting(spec, "reduction_factor"),
        )
    return optuna.pruners.NopPruner()


def prune_reason(spec: SearchSpec, step: int, value: float) -> str:
    """Why a trial was pruned, in words (shown as the trial's error and in the job log)."""
    kind = spec.pruner.get("type")
    if kind == "asha":
        why = f"not among the best 1/{_setting(spec, 'reduction_factor')} of its rung"
    else:
        why = "worse than the median of the completed trials at that epoch"
    return f"pruned at epoch {step} by the {kind} pruner: {spec.metric} {value:.6g} is {why}"


def distributions(space: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna distributions for a search space (ranges and lists of choices)."""
    import optuna.distributions as D

    out: dict[str, Any] = {}
    for key, value in space.items():
        if isinstance(value, Range) and value.integer:
            out[key] = D.IntDistribution(
                int(value.low), int(value.high), log=value.log, step=int(value.step or 1)
            )
        elif isinstance(value, Range):
            out[key] = D.FloatDistribution(value.low, value.high, log=value.log, step=value.step)
        else:
            out[key] = D.CategoricalDistribution(list(value))
    return out


class SearchRunner:
    """The studies of every search, in one journal file under the store root (in memory
    when ``root`` is None: nothing survives the process)."""

    def __init__(self, root: Path | None) -> None:
        self.path = None if root is None else root / JOURNAL
        self._storage: Any = None
        self._studies: dict[str, Any] = {}
        self._importance: dict[str, tuple[int, dict[str, float]]] = {}

    @property
    def storage(self) -> Any:
        if self._storage is None:
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            if self.path is None:
                self._storage = optuna.storages.InMemoryStorage()
            else:
                from optuna.storages.journal import JournalFileBackend, JournalStorage

                private_dir(self.path.parent)
                private_file(self.path)  # 0600, like every file of the store
                self._storage = JournalStorage(JournalFileBackend(str(self.path)))
        return self._storage

    def study(self, name: str, spec: SearchSpec) -> Any:
        """The study ``name`` (created the first time, loaded after a restart)."""
        if name not in self._studies:
            import optuna

            direction: Literal["minimize", "maximize"] = (
                "minimize" if spec.direction == "minimize" else "maximize"
            )
            study = optuna.create_study(
                study_name=name,
                storage=self.storage,
                sampler=make_sampler(spec),
                pruner=make_pruner(spec),
                direction=direction,
                load_if_exists=True,
            )
            asked = len(study.get_trials(deepcopy=False))
            if asked:  # resumed: draw on from a new seed, not the same points again
                study.sampler = make_sampler(spec, seed_offset=asked)
            self._studies[name] = study
        return self._studies[name]

    def ask(self, name: str, spec: SearchSpec, space: Mapping[str, Any]) -> tuple[int, dict]:
        """A new trial's (number, sampled hyperparameters)."""
        trial = self.study(name, spec).ask(distributions(space))
        return trial.number, dict(trial.params)

    def _frozen(self, name: str, spec: SearchSpec, number: int) -> tuple[Any, int]:
        """(FrozenTrial, storage trial id) of the study's trial ``number``."""
        self.study(name, spec)  # created (or loaded) first
        storage = self.storage
        study_id = storage.get_study_id_from_name(name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
        return storage.get_trial(trial_id), trial_id

    def report(self, name: str, spec: SearchSpec, number: int, step: int, value: float) -> bool:
        """Feed one epoch's value to the pruner; True when the trial should stop. A value
        that is not finite, a step already reported or a trial already told is ignored."""
        import optuna

        if not math.isfinite(value):
            return False
        try:
            frozen, trial_id = self._frozen(name, spec, number)
        except KeyError:
            return False  # a number this study never asked
        if frozen.state.is_finished() or step in frozen.intermediate_values:
            return False
        trial = optuna.trial.Trial(self.study(name, spec), trial_id)
        trial.report(value, step)
        if spec.pruner.get("type", "none") == "none":
            return False
        return bool(trial.should_prune())

    def running(self, name: str, spec: SearchSpec) -> set[int]:
        """Numbers of the study's trials not told yet."""
        import optuna

        study = self.study(name, spec)
        states = (optuna.trial.TrialState.RUNNING,)
        return {t.number for t in study.get_trials(deepcopy=False, states=states)}

    def tell(self, name: str, spec: SearchSpec, number: int, outcome: str, value: Any) -> bool:
        """The trial ended: ``finished`` (with its metric's value; without a finite one it
        counts as failed), ``pruned`` or ``failed``. Returns whether the study was told (a
        trial told already is left as it is)."""
        import optuna

        if number not in self.running(name, spec):
            return False
        study = self.study(name, spec)
        State = optuna.trial.TrialState
        if outcome == FINISHED and _finite(value):
            study.tell(number, float(value))
        elif outcome == PRUNED:
            study.tell(number, state=State.PRUNED)
        else:
            study.tell(number, state=State.FAIL)
        return True

    def studies_with_running_trials(self) -> set[str]:
        """Names of the studies that have trials not told yet (to resume after a restart)."""
        if self._storage is None and (
            self.path is None or not self.path.exists() or not self.path.stat().st_size
        ):
            return set()  # no study yet: nothing to load (and Optuna is not imported)
        import optuna

        storage = self.storage
        running = (optuna.trial.TrialState.RUNNING,)
        return {
            study.study_name
            for study in storage.get_all_studies()
            if storage.get_all_trials(
                storage.get_study_id_from_name(study.study_name), deepcopy=False, states=running
            )
        }

    def fail_unrecorded(self, name: str, spec: SearchSpec, recorded: Iterable[int]) -> list[int]:
        """Fail the study's trials that are running but unknown to the store (asked, then
        the hub stopped before it recorded them); return their numbers."""
        import optuna

        known = set(recorded)
        lost = sorted(self.running(name, spec) - known)
        for number in lost:
            self.study(name, spec).tell(number, state=optuna.trial.TrialState.FAIL)
        return lost

    def importance(self, name: str, spec: SearchSpec) -> dict[str, float]:
        """Optuna's parameter importances (PED-ANOVA), shares summing to 1; {} until enough
        trials completed with different values."""
        import optuna

        study = self.study(name, spec)
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        held = self._importance.get(name)
        if held is not None and held[0] == len(done):
            return held[1]
        found: dict[str, float] = {}
        params = {k for t in done for k in t.params}
        if len(done) >= MIN_TRIALS_FOR_IMPORTANCE and params and len({t.value for t in done}) > 1:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    raw = optuna.importance.get_param_importances(
                        study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
                    )
            except (RuntimeError, ValueError, ZeroDivisionError) as exc:
                log.debug("no parameter importance for %s: %s", name, exc)
                raw = {}
            total = sum(v for v in raw.values() if _finite(v) and v > 0)
            if total > 0:
                found = {k: float(v) / total for k, v in raw.items() if _finite(v) and v > 0}
        self._importance[name] = (len(done), found)
        return found


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

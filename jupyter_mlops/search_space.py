"""Search confs: a grid (the seed's format, unchanged) or a search space with a search section.

A conf maps hyperparameters to values. A scalar is fixed; a list is a grid axis (or, in a
random or TPE search, a choice); an object ``{"low", "high"}`` is a range (``"log": true``
for a log scale, ``"step"`` for steps; integer bounds on an integer hyperparameter give an
integer range). The optional top-level ``"search"`` object picks the method (``grid``, the
default, ``random`` or ``tpe``), the trial ``budget``, the ``metric`` and its ``direction``,
how many trials run in ``parallel``, a ``seed`` and a ``pruner`` (``none``, ``median`` or
``asha``, with its settings). Every existing grid conf means exactly what it meant before:
without a search section it is a grid, and a grid expands a stepped range into its values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.grid import (
    MAX_TRIALS,
    GridResult,
    Problem,
    check_values,
    expected_type,
    validate_grid,
)
from jupyter_mlops.messages import MAX_INT

SEARCH_KEY = "search"
METHODS = ("grid", "random", "tpe")
DIRECTIONS = ("maximize", "minimize")
SEARCH_KEYS = ("method", "budget", "metric", "direction", "parallel", "seed", "pruner")
#: What only a random or TPE search takes (a grid runs every point, in order).
SAMPLING_KEYS = ("budget", "parallel", "seed", "pruner")
DEFAULT_METRIC = "test_accuracy"
MAX_METRIC_NAME = 200
#: Each pruner's settings: name -> (smallest allowed, default, what it means).
PRUNERS: dict[str, dict[str, tuple[int, int, str]]] = {
    "none": {},
    "median": {
        "startup_trials": (0, 3, "completed trials before any is pruned"),
        "warmup_epochs": (0, 0, "epochs of each trial that are never pruned"),
    },
    "asha": {
        "min_epochs": (1, 1, "epochs every trial runs"),
        "reduction_factor": (2, 3, "how many trials one of each rung promotes"),
    },
}
RANGE_KEYS = ("low", "high", "log", "step")


@dataclass(frozen=True)
class Range:
    """A numeric range of one hyperparameter (integers when ``integer``)."""

    low: float
    high: float
    log: bool = False
    step: float | None = None
    integer: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        if self.integer:
            out["integer"] = True
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Range:
        """A range as :meth:`to_json` wrote it."""
        return cls(
            raw["low"], raw["high"], bool(raw.get("log")), raw.get("step"), bool(raw.get("integer"))
        )

    def count(self) -> int:
        """How many values a stepped range has."""
        assert self.step is not None
        return math.floor((self.high - self.low) / self.step + 1e-9) + 1

    def grid_values(self) -> list[Any]:
        """The values of a stepped range, low to high (for a grid)."""
        assert self.step is not None
        values = [self.low + i * self.step for i in range(self.count())]
        return [int(v) for v in values] if self.integer else [round(v, 12) for v in values]


@dataclass(frozen=True)
class SearchSpec:
    """The search section, normalised (a pruner's settings are complete and valid)."""

    method: str = "grid"
    budget: int | None = None
    metric: str = DEFAULT_METRIC
    direction: str = "maximize"
    parallel: int | None = None
    seed: int | None = None
    pruner: dict[str, Any] = field(default_factory=lambda: {"type": "none"})

    @property
    def samples(self) -> bool:
        """Whether trials are asked from a sampler (random or TPE) rather than a grid."""
        return self.method != "grid"

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "budget": self.budget,
            "metric": self.metric,
            "direction": self.direction,
            "parallel": self.parallel,
            "seed": self.seed,
            "pruner": dict(self.pruner),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SearchSpec:
        """A spec as :meth:`to_json` wrote it (it was validated before it was stored)."""
        return parse_search(dict(raw), [], MAX_INT)


def space_to_json(space: Mapping[str, Any]) -> dict[str, Any]:
    """A search space as JSON: ranges as objects, choices as ``{"choices": [...]}``."""
    return {
        key: value.to_json() if isinstance(value, Range) else {"choices": list(value)}
        for key, value in space.items()
    }


def space_from_json(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The search space :func:`space_to_json` wrote."""
    return {
        key: list(value["choices"]) if "choices" in value else Range.from_json(value)
        for key, value in raw.items()
    }


@dataclass
class SearchResult(GridResult):
    """A validated conf: a grid's trials, or a search's space, fixed values and budget."""

    search: SearchSpec = field(default_factory=SearchSpec)
    #: key -> Range or list of choices (random and TPE searches)
    space: dict[str, Any] = field(default_factory=dict)
    #: what every trial of a search gets besides its sampled values: the worker's defaults
    #: and the conf's fixed values
    fixed: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["search"] = self.search.to_json()
        if self.search.samples:
            out["trial_count"] = self.search.budget or 0
            out["trials"] = []
            out["space"] = space_to_json(self.space)
        return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(section: Mapping[str, Any], key: str, problems: list[Problem], most: int) -> int | None:
    value = section.get(key)
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= most:
        problems.append(
            Problem(f"search.{key}", f"search.{key} must be a whole number from 1 to {most}")
        )
        return None
    return value


def parse_search(raw: Any, problems: list[Problem], max_trials: int = MAX_TRIALS) -> SearchSpec:
    """The search section (None: a grid); ``problems`` get what is wrong, key by key."""
    if raw is None:
        return SearchSpec()
    if not isinstance(raw, dict):
        problems.append(Problem(SEARCH_KEY, "search must be an object like {'method': 'tpe'}"))
        return SearchSpec()
    for key in sorted(set(raw) - set(SEARCH_KEYS)):
        problems.append(
            Problem(f"search.{key}", f"unknown key {key} in search: use {', '.join(SEARCH_KEYS)}")
        )
    method = raw.get("method", "grid")
    known_method = method in METHODS
    if not known_method:
        problems.append(Problem("search.method", f"search.method is one of {', '.join(METHODS)}"))
        method = "grid"
    direction = raw.get("direction", "maximize")
    if direction not in DIRECTIONS:
        problems.append(
            Problem("search.direction", f"search.direction is one of {', '.join(DIRECTIONS)}")
        )
        direction = "maximize"
    metric = raw.get("metric", DEFAULT_METRIC)
    if not isinstance(metric, str) or not metric.strip() or len(metric) > MAX_METRIC_NAME:
        problems.append(Problem("search.metric", "search.metric must name a metric"))
        metric = DEFAULT_METRIC
    seed = raw.get("seed")
    if seed is not None and (type(seed) is not int or not 0 <= seed < 2**32):
        problems.append(Problem("search.seed", "search.seed must be a whole number from 0"))
        seed = None
    budget = _count(raw, "budget", problems, max_trials)
    parallel = _count(raw, "parallel", problems, max_trials)
    pruner = _parse_pruner(raw.get("pruner", "none"), problems)
    if method == "grid" and known_method:
        given = [
            key
            for key in SAMPLING_KEYS
            if raw.get(key) is not None and not (key == "pruner" and pruner["type"] == "none")
        ]
        if given:
            problems.append(
                Problem(
                    f"search.{given[0]}",
                    f"a grid runs every point: {', '.join(given)} "
                    f"{'is' if len(given) == 1 else 'are'} for a random or tpe search (set "
                    "search.method)",
                )
            )
    elif budget is None and "budget" not in raw:
        problems.append(
            Problem("search.budget", f"a {method} search needs a budget: how many trials")
        )
    return SearchSpec(method, budget, metric, direction, parallel, seed, pruner)


def _parse_pruner(raw: Any, problems: list[Problem]) -> dict[str, Any]:
    """The pruner with every setting filled in; a bad one is a problem (and its default)."""
    settings = {"type": raw} if isinstance(raw, str) else raw
    if not isinstance(settings, dict) or settings.get("type") not in PRUNERS:
        problems.append(
            Problem(
                "search.pruner",
                f"search.pruner is one of {', '.join(PRUNERS)}, or an object with that type",
            )
        )
        return {"type": "none"}
    kind = settings["type"]
    allowed = PRUNERS[kind]
    for key in sorted(set(settings) - {"type"} - set(allowed)):
        takes = ", ".join(allowed) or "no settings"
        problems.append(Problem(f"search.pruner.{key}", f"the {kind} pruner takes {takes}"))
    normalised: dict[str, Any] = {"type": kind}
    for key, (least, default, meaning) in allowed.items():
        value = settings.get(key, default)
        if type(value) is not int or value < least:
            problems.append(
                Problem(
                    f"search.pruner.{key}",
                    f"search.pruner.{key} ({meaning}) must be a whole number from {least}",
                )
            )
            value = default
        normalised[key] = value
    return normalised


def parse_range(key: str, raw: dict[str, Any], default: Any) -> tuple[Range | None, Problem | None]:
    """A range object for ``key`` (typed like its default), or a problem saying what to fix."""
    unknown = sorted(set(raw) - set(RANGE_KEYS))
    if unknown:
        return None, Problem(
            key, f"{key}: a range takes low, high, log and step, not {', '.join(unknown)}"
        )
    low: Any = raw.get("low")
    high: Any = raw.get("high")
    step: Any = raw.get("step")
    log = raw.get("log", False)
    if not (_is_number(low) and _is_number(high)):
        return None, Problem(key, f"{key}: a range needs numbers low and high")
    if not (math.isfinite(low) and math.isfinite(high)):
        return None, Problem(key, f"{key}: low and high must be finite numbers")
    if low >= high:
        return None, Problem(key, f"{key}: a range needs low < high, got {low} and {high}")
    if not isinstance(log, bool):
        return None, Problem(key, f"{key}: log is true or false")
    if log and low <= 0:
        return None, Problem(key, f"{key}: a log range needs low > 0, got {low}")
    if step is not None:
        if log:
            return None, Problem(key, f"{key}: a log range takes no step")
        if not _is_number(step) or not math.isfinite(step) or step <= 0:
            return None, Problem(key, f"{key}: step must be a positive number")
        steps = (high - low) / step
        if abs(steps - round(steps)) > 1e-9 * max(1.0, steps):
            return None, Problem(
                key, f"{key}: high - low ({high - low:g}) must be a whole number of steps ({step})"
            )
    expected = expected_type(default)
    if expected is bool or expected is str:
        return None, Problem(key, f"{key} is {expected.__name__}: give a list of values instead")
    integer = expected is int or (expected is None and type(low) is int and type(high) is int)
    if integer and not all(type(v) is int for v in (low, high, 1 if step is None else step)):
        return None, Problem(key, f"{key} is an integer: low, high and step must be integers")
    if integer:
        return Range(low, high, log, step, True), None
    return Range(float(low), float(high), log, None if step is None else float(step)), None


def _ordered(keys: list[str], declared: Mapping[str, Any] | None) -> list[str]:
    """The worker's declaration order, then the other keys sorted (as a grid orders them)."""
    first = [k for k in (declared or {}) if k in keys]
    return first + sorted(k for k in keys if k not in first)


def validate_conf(
    conf: Any, defaults: Mapping[str, Any] | None = None, max_trials: int = MAX_TRIALS
) -> SearchResult:
    """Validate a grid or a search conf against a worker's ``defaults`` (None: any key)."""
    if not isinstance(conf, dict):
        return SearchResult(**vars(validate_grid(conf, defaults, max_trials)))
    declared = dict(defaults) if defaults is not None else None
    problems: list[Problem] = []
    # a worker may declare a hyperparameter named "search": then only an object is the section
    section = conf.get(SEARCH_KEY)
    is_section = SEARCH_KEY in conf and (
        isinstance(section, dict) or declared is None or SEARCH_KEY not in declared
    )
    spec = parse_search(section if is_section else None, problems, max_trials)
    params = {k: v for k, v in conf.items() if not (is_section and k == SEARCH_KEY)}
    ranges: dict[str, Range] = {}
    plain: dict[str, Any] = {}
    for key, raw in params.items():
        if isinstance(raw, dict) and (declared is None or key in declared):
            found, problem = parse_range(key, raw, (declared or {}).get(key))
            if problem is not None:
                problems.append(problem)
            elif found is not None:
                ranges[key] = found
        else:
            plain[key] = raw  # a key the worker does not declare is warned about below
    if not spec.samples:
        return _grid(spec, plain, ranges, declared, problems, max_trials)
    result = SearchResult(search=spec, errors=problems)
    checked = check_values(plain, declared, result.warnings, result.errors)
    fixed = {k: v[0] for k, v in checked.items() if not isinstance(plain[k], list) or len(v) == 1}
    space: dict[str, Any] = {k: v for k, v in checked.items() if k not in fixed}
    space.update(ranges)
    order = _ordered([*fixed, *space], declared)
    result.space = {k: space[k] for k in order if k in space}
    result.conf = {
        k: space[k].to_json() if isinstance(space.get(k), Range) else space.get(k, [fixed.get(k)])
        for k in order
    }
    result.fixed = {**(declared or {}), **fixed}
    if not result.space and not result.errors:
        result.errors.append(
            Problem(None, f"a {spec.method} search needs a range or a list of choices to explore")
        )
    return result


def _grid(
    spec: SearchSpec,
    plain: dict[str, Any],
    ranges: dict[str, Range],
    declared: Mapping[str, Any] | None,
    problems: list[Problem],
    max_trials: int,
) -> SearchResult:
    """A grid: stepped ranges become their values, then the seed's grid rules apply."""
    for key, found in ranges.items():
        if found.step is None:
            problems.append(
                Problem(key, f"{key}: a grid needs a list or a range with a step; or set "
                        "search.method to random or tpe")
            )  # fmt: skip
        elif found.count() > max_trials:
            problems.append(
                Problem(key, f"{key}: the range has {found.count()} steps; a job may have at "
                        f"most {max_trials} trials")
            )  # fmt: skip
        else:
            plain[key] = found.grid_values()
    grid = validate_grid(plain, declared, max_trials)
    result = SearchResult(**vars(grid), search=spec)
    result.errors[:0] = problems
    if result.errors:
        result.trials = []
    return result

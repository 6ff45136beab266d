"""Hyperparameter grids: validation against a worker's defaults and cartesian expansion.

A grid conf is a JSON object. A scalar is a fixed value, a list is a search axis; the trials
are the cartesian product of the axes in a deterministic order (the worker's declaration order,
then the remaining keys sorted). Keys the worker does not declare are reported as warnings,
never silently dropped; values of the wrong type are errors that name the key.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.messages import NON_FINITE

MAX_TRIALS = 10_000

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong (error) or worth knowing (warning) about a conf."""

    key: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "message": self.message}


@dataclass
class GridResult:
    """The outcome of validating a conf: normalized axes, expanded trials and problems."""

    conf: dict[str, list[Any]] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "conf": self.conf,
            "trial_count": len(self.trials),
            "trials": self.trials,
            "warnings": [w.to_json() for w in self.warnings],
            "errors": [e.to_json() for e in self.errors],
        }


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "float", str: "string"}.get(type(value))
    if kind is None:
        kind = (
            "list" if isinstance(value, list) else "object" if isinstance(value, dict) else "null"
        )
    return f"{kind} {json.dumps(value)[:40]}"


def coerce(key: str, value: Any, expected: type | None) -> tuple[Any, Problem | None]:
    """Return the value converted to the declared type, or a problem naming the key."""
    if isinstance(value, (list, dict)) or value is None:
        return None, Problem(key, f"{key} values must be scalars, got {_describe(value)}")
    if expected is None:
        return value, None
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value), None
    if type(value) is not expected:
        return None, Problem(key, f"{key} must be {_TYPE_NAMES[expected]}, got {_describe(value)}")
    return value, None


def expected_type(default: Any) -> type | None:
    """The type a key's values must have, from the worker's default (None: any scalar)."""
    if default in NON_FINITE:  # a non-finite float default, as JSON carries it
        return float
    return type(default) if type(default) in _TYPE_NAMES else None


def check_values(
    conf: Mapping[str, Any],
    declared: Mapping[str, Any] | None,
    warnings: list[Problem],
    errors: list[Problem],
) -> dict[str, list[Any]]:
    """Each key's values (a scalar as a list of one), typed like its default and without
    duplicates. A key the worker does not declare (``declared`` None: any is fine) is a
    warning and left out; a value of the wrong type, or an empty list, is an error."""
    known = ", ".join(declared or ()) or "none"
    checked: dict[str, list[Any]] = {}
    for key, raw in conf.items():
        if declared is not None and key not in declared:
            warnings.append(
                Problem(key, f"unknown key {key} is ignored: the worker declares {known}")
            )
            continue
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            errors.append(Problem(key, f"{key} is an empty list: give at least one value"))
            continue
        expected = expected_type(declared[key]) if declared is not None else None
        axis: list[Any] = []
        seen: set[tuple[type, Any]] = set()  # (type, value): 1, 1.0 and True stay distinct
        for value in values:
            coerced, problem = coerce(key, value, expected)
            if problem is not None:
                errors.append(problem)
                break
            if (type(coerced), coerced) not in seen:
                seen.add((type(coerced), coerced))
                axis.append(coerced)
        else:
            checked[key] = axis
    return checked


def validate_grid(
    conf: Any, defaults: Mapping[str, Any] | None = None, max_trials: int = MAX_TRIALS
) -> GridResult:
    """Validate ``conf`` against ``defaults`` (None: any key is accepted) and expand it.

    Linear in the size of the conf: duplicates are dropped with a set, and the trial count is
    multiplied out (and refused past ``max_trials``) before anything is expanded.
    """
    result = GridResult()
    if not isinstance(conf, dict):
        result.errors.append(
            Problem(None, f"the conf must be a JSON object, got {_describe(conf)}")
        )
        return result
    declared = dict(defaults) if defaults is not None else None
    result.conf = check_values(conf, declared, result.warnings, result.errors)
    if result.errors:
        return result
    order = [k for k in (declared or {}) if k in result.conf]
    order += sorted(k for k in result.conf if k not in order)
    result.conf = {k: result.conf[k] for k in order}
    count = 1
    for axis in result.conf.values():
        count *= len(axis)
    if count > max_trials:
        # str() of an int over 4,300 digits raises: name a huge count by its magnitude
        shown = f"{count}" if count < 10**15 else f"about 10^{int(count.bit_length() * 0.30103)}"
        result.errors.append(
            Problem(None, f"the grid has {shown} trials; a job may have at most {max_trials}")
        )
        return result
    base = dict(declared or {})
    for combo in itertools.product(*result.conf.values()):
        result.trials.append({**base, **dict(zip(order, combo, strict=True))})
    return result

"""The deploy gate: does a newly stored model replace the deployed one, and why.

``better`` (the old behaviour): the challenger's metric beats the champion's. ``significant``
(the default): the challenger must be tested on the same test set (same fingerprint) with
per-example results, and be better beyond chance: the exact McNemar test on the examples the
two models disagree on (see :mod:`jupyter_mlops.evidence`), one-sided at ``alpha``. McNemar
rather than a paired bootstrap: with per-example right/wrong results it is exact, needs no
resampling or seed, and its p-value is reproducible to the digit. The test is on right/wrong
per example whatever the deploy metric is; a challenger that wins it but is worse on the deploy
metric itself (a loss, say) is not deployed either. A model without per-example results, or
tested on another test set (another fingerprint or size), is never deployed over a champion
by this gate: only by hand. With nothing deployed, the first model with the metric is.
Every decision says why in one sentence, with its numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from jupyter_mlops.evidence import compare

GATES = ("better", "significant")


@dataclass(frozen=True)
class Decision:
    """The gate's verdict on one challenger against the champion of that moment."""

    deployed: bool
    gate: str
    reason: str
    metric: str
    value: float | None = None
    champion_id: str | None = None
    champion_value: float | None = None
    n: int | None = None
    b: int | None = None
    c: int | None = None
    p_value: float | None = None
    test: str | None = None
    alpha: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "none"
    return f"{100 * value:.1f}%" if "accuracy" in metric else f"{value:.4g}"


def p_text(p_value: float) -> str:
    """``p = 0.21``; ``p < 0.0001`` for what would print as noise digits."""
    return "p < 0.0001" if p_value < 1e-4 else f"p = {p_value:.2g}"


def decide(
    challenger: dict[str, Any],
    champion: dict[str, Any] | None,
    *,
    gate: str,
    metric: str,
    higher_is_better: bool,
    alpha: float,
) -> Decision:
    """Judge ``challenger`` (a stored model) against ``champion`` (the deployed one, or None).

    Each model is the API's Model object with its full ``evaluation`` (per-example results).
    """
    metrics = challenger.get("metrics") or {}
    value = _number(metrics.get(metric))
    if value is None:
        why = "has no" if metric not in metrics else "has no finite"
        return Decision(False, gate, f"not deployed: the model {why} {metric}", metric)
    if champion is None:
        reason = f"deployed: nothing was deployed yet ({metric} {_fmt(value, metric)})"
        return Decision(True, gate, reason, metric, value)
    old = _number((champion.get("metrics") or {}).get(metric))
    champion_id = str(champion["id"])

    def verdict(deployed: bool, reason: str, **stats: Any) -> Decision:
        return Decision(deployed, gate, reason, metric, value, champion_id, old, **stats)

    versus = f"{metric} {_fmt(value, metric)} vs {_fmt(old, metric)} for model {champion_id}"
    better = old is not None and (value > old if higher_is_better else value < old)
    paired = _paired(challenger, champion)  # (stats, sentence) or the reason they do not pair
    if gate == "better":  # the old rule; the paired numbers, when there are any, are shown
        where = f"; {paired[1]}" if isinstance(paired, tuple) else ""
        if old is None:
            missing = f"the deployed model {champion_id} has no {metric} to compare against"
            return verdict(False, f"not deployed: {missing}; deploy by hand to replace it")
        word = "deployed: better" if better else "not deployed: not better"
        stats = paired[0] if isinstance(paired, tuple) else {}
        return verdict(better, f"{word} ({versus}{where})", **stats)
    if isinstance(paired, str):
        return verdict(False, f"not deployed: {paired}")
    stats, where = paired
    stats["alpha"] = alpha
    if stats["b"] <= stats["c"]:
        return verdict(False, f"not deployed: {where}, not better", **stats)
    if stats["p_value"] >= alpha:
        return verdict(False, f"not deployed: {where}, could be chance", **stats)
    if old is not None and not better and value != old:
        return verdict(False, f"not deployed: {where}, but its {metric} is worse ({versus})",
                       **stats)  # fmt: skip
    return verdict(True, f"deployed: {where}, better beyond chance", **stats)


def _paired(
    challenger: dict[str, Any], champion: dict[str, Any]
) -> tuple[dict[str, Any], str] | str:
    """The paired test's numbers and their sentence, or why the two models do not pair."""
    mine, theirs = challenger.get("evaluation"), champion.get("evaluation")
    champion_id = champion["id"]
    if not mine:
        return ("the model has no per-example test results, so the gate cannot compare it "
                f"with model {champion_id}; deploy it by hand to replace it")  # fmt: skip
    if not theirs:
        return (f"the deployed model {champion_id} has no per-example test results to "
                "compare against; deploy by hand to replace it")  # fmt: skip
    try:
        result = compare(mine, theirs)
    except ValueError as exc:
        return (f"{exc} (this model and model {champion_id}), so they cannot be compared; "
                "deploy by hand to replace it")  # fmt: skip
    # the paired test is on per-example right/wrong, whatever the deploy metric is
    stats = {"n": result.n, "b": result.b, "c": result.c, "p_value": result.p_value,
             "test": "mcnemar-exact"}  # fmt: skip
    where = (
        f"{result.points:+.1f} points on the same {result.n:,} test examples, "
        f"{p_text(result.p_value)} (McNemar)"
    )
    return stats, where

"""The panel's trials table: one job's trials (hyperparameters, metrics, status, worker, the
cluster node it runs on) and its best trial so far, for the job picked (the newest by default).

Every value comes from the hub or a worker and is escaped with ``html.escape`` (``text``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import ipywidgets as W

from jupyter_mlops.kernel_client.panel.html_parts import pill, text
from jupyter_mlops.messages import NON_FINITE

DEFAULT_METRIC = "test_accuracy"  # what the hub deploys by unless a job's search says
MAX_METRICS = 4  # metric columns shown (the search's own first)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def objective(job: Mapping[str, Any]) -> tuple[str, str]:
    """(metric, direction) a job's trials are judged by."""
    search = job.get("search")
    metric = search.get("metric") if isinstance(search, dict) else None
    direction = search.get("direction") if isinstance(search, dict) else None
    return (
        metric if isinstance(metric, str) and metric else DEFAULT_METRIC,
        "minimize" if direction == "minimize" else "maximize",
    )


def best_trial(job: Mapping[str, Any]) -> tuple[dict[str, Any], float] | None:
    """The best finished trial by the job's metric and direction, with its value."""
    metric, direction = objective(job)
    best: tuple[dict[str, Any], float] | None = None
    for trial in job.get("trials") or []:
        if not isinstance(trial, dict) or trial.get("status") != "finished":
            continue
        metrics = trial.get("metrics")
        value = _number(metrics.get(metric)) if isinstance(metrics, dict) else None
        if value is None:
            continue
        if best is None or (value < best[1] if direction == "minimize" else value > best[1]):
            best = (trial, value)
    return best


def _varying(job: Mapping[str, Any], trials: list[dict[str, Any]]) -> list[str]:
    """The hyperparameters that differ between trials (a grid's axes, a search's space)."""
    keys: list[str] = []
    for trial in trials:
        params = trial.get("params")
        for key in params if isinstance(params, dict) else ():
            if key not in keys:
                keys.append(key)
    return [
        key
        for key in keys
        if len({repr((t.get("params") or {}).get(key)) for t in trials}) > 1
        or isinstance((job.get("conf") or {}).get(key), dict)
    ]


def _metric_names(trials: list[dict[str, Any]], first: str) -> list[str]:
    names = sorted(
        {
            str(name)
            for t in trials
            if isinstance(t.get("metrics"), dict)
            for name, value in t["metrics"].items()
            if _number(value) is not None or value in NON_FINITE
        }
    )
    ordered = [first] + [n for n in names if n != first]
    return ordered[:MAX_METRICS]


def _value(value: Any) -> str:
    number = _number(value)
    if number is not None:
        return f"{number:.4g}"
    if isinstance(value, str) and value in NON_FINITE:
        return value
    return "" if value is None else text(value)


def trials_html(job: Mapping[str, Any]) -> str:
    """The job's trials as an HTML table with its best trial so far above it."""
    trials = [t for t in job.get("trials") or [] if isinstance(t, dict)]
    metric, direction = objective(job)
    best = best_trial(job)
    search = job.get("search")
    method = search.get("method") if isinstance(search, dict) else "grid"
    head = (
        f"<div class='mlops-panel-best'>best so far: <b>trial {text(best[0].get('id'))}</b> "
        f"&middot; {text(metric)} {_value(best[1])}</div>"
        if best
        else "<div class='mlops-panel-best'><i>no finished trial yet</i></div>"
    )
    about = (
        f"<div class='mlops-panel-search'>{text(method)} search &middot; {text(direction)} "
        f"{text(metric)}</div>"
    )
    if not trials:
        return about + head + "<i>No trials yet.</i>"
    params = _varying(job, trials)
    metrics = _metric_names(trials, metric)
    nodes = any(trial.get("node") for trial in trials)  # a cluster's worker runs some
    cells = ["trial", "status", "worker", *(["node"] if nodes else []), *params, *metrics, "note"]
    rows = ["<tr>" + "".join(f"<th>{text(c)}</th>" for c in cells) + "</tr>"]
    best_id = best[0].get("id") if best else None
    for trial in trials:
        values = trial.get("params")
        values = values if isinstance(values, dict) else {}
        measured = trial.get("metrics")
        measured = measured if isinstance(measured, dict) else {}
        status = trial.get("status")
        note = ""
        if status == "pruned":
            note = f"pruned at epoch {text(trial.get('epoch'))}"
        elif trial.get("error"):
            note = html.escape(str(trial["error"]))
        mark = " class='mlops-panel-best-row'" if trial.get("id") == best_id else ""
        row = [
            f"<td>{text(trial.get('id', ''))}{' &#9733;' if mark else ''}</td>",
            f"<td>{pill(status)}</td>",
            f"<td>{text(trial.get('worker_name') or '')}</td>",
            *([f"<td class='node'>{text(trial.get('node') or '')}</td>"] if nodes else []),
            *(f"<td>{_value(values.get(key))}</td>" for key in params),
            *(f"<td>{_value(measured.get(name))}</td>" for name in metrics),
            f"<td>{note}</td>",
        ]
        rows.append(f"<tr{mark}>" + "".join(row) + "</tr>")
    return about + head + "<table>" + "".join(rows) + "</table>"


class TrialsView(W.VBox):
    """The trials of the job picked in its dropdown (the newest unless one is picked)."""

    def __init__(self) -> None:
        self.choice = W.Dropdown(
            options=[], description="Job", _dom_classes=["mlops-panel-trials-choice"]
        )
        self.table = W.HTML(_dom_classes=["mlops-panel-trials"])
        self._jobs: dict[int, dict[str, Any]] = {}
        self._picked: int | None = None  # the job the user picked, if any
        self._updating = False
        self.choice.observe(self._on_pick, names="value")
        super().__init__([self.choice, self.table])

    def _on_pick(self, change: dict[str, Any]) -> None:
        if not self._updating:
            self._picked = change["new"]
            self._render()

    def update(self, jobs: Mapping[int, dict[str, Any]]) -> None:
        """Show these jobs (id -> job with its trials) in the dropdown, newest first."""
        self._jobs = dict(jobs)
        ids = sorted(self._jobs, reverse=True)
        options = [
            (f"job {job_id} ({self._jobs[job_id].get('status', '?')})", job_id) for job_id in ids
        ]
        self._updating = True
        try:
            if list(self.choice.options) != options:
                self.choice.options = options
            wanted = self._picked if self._picked in self._jobs else (ids[0] if ids else None)
            if self.choice.value != wanted:
                self.choice.value = wanted
        finally:
            self._updating = False
        self._render()

    def _render(self) -> None:
        job = self._jobs.get(self.choice.value) if self.choice.value is not None else None
        self.table.value = trials_html(job) if job else "<i>No jobs yet.</i>"

"""HTML pieces of the ipywidgets panel: its style, status pills and formatted facts.

Colours come from the shared theme vocabulary (:mod:`jupyter_mlops.kernel_client.theme`), so
the panel reads in JupyterLab's and Voilà's dark themes as well as in light ones.

Every value that came from a worker or the hub is escaped here with ``html.escape`` (through
:func:`text`), numbers included: a worker can send any JSON where a number is expected.
"""

from __future__ import annotations

import html
import math
from typing import Any

from jupyter_mlops.kernel_client.theme import variables
from jupyter_mlops.messages import NON_FINITE

STYLE = (
    "<style>\n"
    + variables(".mlops-panel")
    + """.mlops-panel { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  font-size: 13px; gap: 6px; max-width: 980px; color: var(--mlops-text); }
.mlops-panel h3 { margin: 10px 0 2px 0; font-size: 14px; text-transform: uppercase;
  letter-spacing: .05em; color: var(--mlops-muted); }
.mlops-panel table { border-collapse: collapse; width: 100%; }
.mlops-panel th, .mlops-panel td { text-align: left; padding: 3px 8px;
  border-bottom: 1px solid var(--mlops-border); vertical-align: top; }
.mlops-panel th { color: var(--mlops-muted); font-weight: 600; }
.mlops-panel code { font-size: 12px; }
.mlops-panel .pill { display: inline-block; padding: 0 8px; border-radius: 999px;
  font-size: 12px; font-weight: 600; }
.mlops-panel .ok { background: var(--mlops-ok-tint); color: var(--mlops-ok-text); }
.mlops-panel .busy { background: var(--mlops-busy-tint); color: var(--mlops-busy-text); }
.mlops-panel .off { background: var(--mlops-raised); color: var(--mlops-text); }
.mlops-panel .bad { background: var(--mlops-bad-tint); color: var(--mlops-bad-text); }
.mlops-panel .warn { color: var(--mlops-warn-text); }
.mlops-panel .err { color: var(--mlops-bad-text); }
.mlops-panel-job-trials td { padding: 1px 8px; font-size: 12px; }
.mlops-panel-models .group { margin-top: 6px; font-weight: 600; color: var(--mlops-text); }
.mlops-panel .manual { background: var(--mlops-manual-tint); color: var(--mlops-manual-text); }
.mlops-panel-decision { font-size: 12px; color: var(--mlops-text); }
.mlops-panel-decision .facts { color: var(--mlops-muted); }
.mlops-panel .cluster { display: inline-block; margin-top: 2px; padding: 0 8px;
  border-radius: 999px; font-size: 12px; background: var(--mlops-busy-tint);
  color: var(--mlops-busy-text); cursor: help; }
.mlops-panel .node { font-family: monospace; font-size: 12px; color: var(--mlops-muted); }
</style>"""
)

STATUS_CSS = {
    "idle": "ok", "online": "ok", "finished": "ok", "deployed": "ok",
    "busy": "busy", "running": "busy",
    "queued": "off", "pending": "off", "offline": "off", "cancelled": "off", "failed": "bad",
}  # fmt: skip


def text(value: Any) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(value))


def pill(status: Any) -> str:
    css = STATUS_CSS.get(status, "off") if isinstance(status, str) else "off"
    return f"<span class='pill {css}'>{text(status)}</span>"


def when(iso: Any) -> str:
    """``2026-11-26T18:20:19.172+00:00`` -> ``2026-11-26 18:20:19``."""
    return html.escape(str(iso or "")[:19].replace("T", " "))


def pct(value: Any) -> str:
    """An accuracy as a percentage; NaN (sent as text, see messages.py) as "NaN"."""
    if isinstance(value, str) and value in NON_FINITE:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{100 * value:.1f}%" if math.isfinite(value) else "NaN"
    return "-"


def count(value: Any) -> str:
    """A count with thousands separators (anything else as escaped text)."""
    return f"{value:,}" if type(value) is int else text(value)


def params_text(params: Any) -> str:
    """``k=v, ...`` of a dict (plain text: escape it); anything else as it is."""
    if not isinstance(params, dict):
        return "" if params is None else str(params)
    return ", ".join(f"{k}={v}" for k, v in params.items())


def job_workers_text(job: dict[str, Any]) -> str:
    """``w1, w2 (any)`` from the job's ``workers``; the requested worker while none was leased."""
    names = list(job.get("workers") or ())
    requested = str(job.get("worker") or "any")
    if not names:
        return requested
    return ", ".join(names) + (" (any)" if requested == "any" else "")


#: The resources a cluster line shows, in this order.
CLUSTER_RESOURCES = ("CPU", "GPU")


def _amount(value: Any) -> str | None:
    """A resource amount ("2", "0.5"), or None when it is not a finite number."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def cluster_text(worker: dict[str, Any]) -> str:
    """``Ray · 2 nodes · CPU 0/2 free · 2/2 trials`` of a cluster's worker, only the parts it
    reported (plain text: escape it); ``4 trials at once`` without a cluster; '' for a plain
    worker (docs/API.md, "Clusters")."""
    cluster = worker.get("cluster")
    capacity = worker.get("capacity")
    capacity = capacity if type(capacity) is int else None
    if not isinstance(cluster, dict):
        return f"{capacity} trials at once" if capacity and capacity > 1 else ""
    parts = []
    engine = cluster.get("engine")
    if isinstance(engine, str) and engine:
        parts.append("Ray" if engine == "ray" else engine)
    alive = cluster.get("nodes_alive")
    if type(alive) is int:
        parts.append(f"{alive} node" + ("" if alive == 1 else "s"))
    total, free = cluster.get("resources_total"), cluster.get("resources_available")
    total = total if isinstance(total, dict) else {}
    free = free if isinstance(free, dict) else {}
    for resource in CLUSTER_RESOURCES:
        whole = _amount(total.get(resource))
        if whole is None or float(whole) <= 0:
            continue  # a cluster without GPUs says nothing of them
        left = _amount(free.get(resource))
        parts.append(
            f"{resource} {left}/{whole} free" if left is not None else f"{resource} {whole}"
        )
    running = cluster.get("trials_running")
    if type(running) is int:
        parts.append(f"{running}/{capacity} trials" if capacity else f"{running} trials")
    elif capacity and capacity > 1:
        parts.append(f"{capacity} trials at once")
    return " · ".join(parts)


def cluster_nodes_text(cluster: Any) -> str:
    """One line per node of a cluster (``10.0.0.2:4a1f2e07 · CPU 8 · GPU 1``, ``(down)`` for a
    dead one), for a tooltip (plain text: escape it)."""
    if not isinstance(cluster, dict):
        return ""
    lines = []
    if cluster.get("address"):
        lines.append(f"Ray {cluster.get('ray') or ''} at {cluster['address']}".replace("  ", " "))
    nodes = cluster.get("nodes")
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict):
            continue
        parts = [str(node.get("node") or "")]
        for resource in CLUSTER_RESOURCES:
            amount = _amount(node.get(resource))
            if amount is not None:
                parts.append(f"{resource} {amount}")
        lines.append(" · ".join(parts) + (" (down)" if node.get("alive") is False else ""))
    return "\n".join(lines)


def cluster_html(worker: dict[str, Any]) -> str:
    """The cluster line of a worker as an escaped badge with its nodes as the tooltip; ''
    for a plain worker."""
    line = cluster_text(worker)
    if not line:
        return ""
    title = html.escape(cluster_nodes_text(worker.get("cluster")), quote=True)
    return f"<span class='cluster' title='{title}'>{html.escape(line)}</span>"


#: How a decision's ``test`` reads.
TEST_NAMES = {"mcnemar-exact": "exact McNemar"}


def p_value_text(value: Any) -> str:
    """``p = 0.21``; ``p < 0.0001`` below that; '' when it is not a number."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return ""
    return "p < 0.0001" if value < 1e-4 else f"p = {value:.2g}"


def decision_verdict(decision: dict[str, Any]) -> tuple[str, str]:
    """(words, css class) of a deploy decision's outcome."""
    if decision.get("bypassed") is True:
        return "deployed by hand, gate bypassed", "manual"
    if decision.get("kind") == "manual":
        return "deployed by hand", "ok"
    return ("deployed", "ok") if decision.get("deployed") is True else ("not deployed", "off")


def decision_html(decision: Any) -> str:
    """The deploy gate's decision on a model: deployed or not, its sentence, and its evidence
    (p-value, the discordant pairs b and c, the examples n) when it has any. '' when the
    model has no decision recorded."""
    if not isinstance(decision, dict):
        return ""
    words, css = decision_verdict(decision)
    facts = []
    p_value = p_value_text(decision.get("p_value"))
    if p_value:
        test = str(decision.get("test") or "paired test")
        facts.append(f"{p_value} ({text(TEST_NAMES.get(test, test))})")
    b, c, n = decision.get("b"), decision.get("c"), decision.get("n")
    if b is not None and c is not None:
        facts.append(
            "<span title='b: test examples only this model got right; c: only the deployed "
            f"model it was compared with'>b {text(b)} / c {text(c)}</span>"
        )
    if n is not None:
        facts.append(f"n {count(n)}")
    shown = f" <span class='facts'>&middot; {' &middot; '.join(facts)}</span>" if facts else ""
    reason = text(decision.get("reason") or "")
    return f"<span class='pill {css}'>{text(words)}</span> {reason}{shown}"


def trial_line(trial: dict[str, Any]) -> str:
    """One table row: id, status, worker, attempt, epoch, checkpoint, node, resume, error."""
    status = str(trial.get("status") or "?")
    worker = trial.get("worker_name")
    facts = [f"on <b>{html.escape(str(worker))}</b>" if worker else "<i>not leased yet</i>"]
    attempt = trial.get("attempt")
    if type(attempt) is int and attempt > 1:
        facts.append(f"attempt {attempt}")
    if status == "running" and trial.get("epochs"):
        facts.append(f"epoch {text(trial.get('epoch') or 0)}/{text(trial['epochs'])}")
    if trial.get("resumed_from_epoch") is not None:
        facts.append(f"resumed from epoch {text(trial['resumed_from_epoch'])}")
    if trial.get("checkpoint_epoch") is not None:
        facts.append(f"checkpoint: epoch {text(trial['checkpoint_epoch'])}")
    if trial.get("node"):
        facts.append(f"node <span class='node'>{text(trial['node'])}</span>")
    metrics = trial.get("metrics")
    accuracy = metrics.get("test_accuracy") if isinstance(metrics, dict) else None
    if accuracy is not None and pct(accuracy) != "-":
        facts.append(f"accuracy {pct(accuracy)}")
    error = trial.get("error")
    note = ""
    if error:
        css = "warn" if status == "pending" else "err"  # pending: why it was re-queued
        note = f" <span class='{css}'>{html.escape(str(error))}</span>"
    return (
        f"<tr><td>{html.escape(str(trial.get('id', '')))}</td><td>{pill(status)}</td>"
        f"<td>{' &middot; '.join(facts)}{note}</td></tr>"
    )

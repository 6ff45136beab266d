"""HTML of the demo page's parts, from what the hub says; every outside string is escaped."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
from typing import Any

HOW = {
    "auto": "automatically (the deploy gate let it replace the deployed model)",
    "manual": "by hand (a rollback, or past the deploy gate)",
}


def when(iso: str | None) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS UTC``."""
    if not iso:
        return "unknown time"
    try:
        moment = dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return html.escape(str(iso))
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def short(sha1: Any) -> str:
    return html.escape(str(sha1 or "?")[:12])


def number(value: Any, percent: bool = False) -> str:
    """A metric for people: NaN and infinities said as such, accuracies as percentages."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "NaN" if value is None else html.escape(str(value))
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("∞" if value > 0 else "-∞")
    return f"{100 * value:.1f}%" if percent else f"{value:.4g}"


def metrics_html(metrics: dict[str, Any]) -> str:
    parts = [
        f"{html.escape(str(name).replace('_', ' '))} <b>{number(value, 'accuracy' in name)}</b>"
        for name, value in metrics.items()
        if not isinstance(value, (dict, list))
    ]
    return " &middot; ".join(parts) or "none recorded"


def status_html(connected: bool, text: str) -> str:
    css = "live" if connected else "down"
    label = "&#9679; live: following the model store" if connected else html.escape(text)
    return f"<span class='pill {css}'>{label}</span>"


#: How a decision's ``test`` reads.
TEST_NAMES = {"mcnemar-exact": "exact McNemar"}


def p_value_text(value: Any) -> str:
    """``p = 0.21``; ``p < 0.0001`` below that; '' when it is not a number."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return ""
    return "p < 0.0001" if value < 1e-4 else f"p = {value:.2g}"


def decision_html(decision: Any) -> str:
    """Why the deployed model is deployed: the decision that deployed it, in its sentence, with
    its evidence (p-value, discordant pairs) when it has any; '' when none was recorded."""
    if not isinstance(decision, dict):
        return ""
    if decision.get("bypassed") is True:
        lead = "<b class='mlops-demo-bypassed'>deployed by hand, gate bypassed</b>"
    elif decision.get("kind") == "manual":
        lead = "<b>deployed by hand</b>"
    else:
        lead = "<b>deployed by the deploy gate</b>"
    facts = []
    p_value = p_value_text(decision.get("p_value"))
    if p_value:
        test = str(decision.get("test") or "paired test")
        facts.append(f"{p_value} ({html.escape(str(TEST_NAMES.get(test, test)))})")
    b, c = decision.get("b"), decision.get("c")
    if b is not None and c is not None:
        facts.append(
            f"{html.escape(str(b))} test examples right only with this model, "
            f"{html.escape(str(c))} only with the one it replaced"
        )
    shown = f"<div class='facts'>{' &middot; '.join(facts)}</div>" if facts else ""
    reason = html.escape(str(decision.get("reason") or ""))
    return f"<div class='mlops-demo-decision'>{lead}: {reason}{shown}</div>"


def model_html(deployment: dict[str, Any] | None, served: dict[str, Any] | None) -> str:
    """The deployed model's facts (the sha1 shows separately)."""
    if deployment is None:
        return (
            "<div class='mlops-demo-empty'>No model deployed yet. Launch a job from the "
            "panel: the first trained model is deployed automatically and appears here.</div>"
        )
    model = deployment.get("model") or {}
    reason = str(deployment.get("reason") or "")
    badge = f"<span class='badge {html.escape(reason)}'>{html.escape(reason)}</span>"
    classes = "".join(
        f"<span class='chip'>{html.escape(str(c))}</span>" for c in model.get("classes") or []
    )
    size = (served or {}).get("input", {}).get("image") or "x".join(
        str(v) for v in (model.get("input_size") or [])[1:]
    )
    params = model.get("param_count")
    counted = f", {params:,} parameters" if type(params) is int else ""
    rows = [
        ("model", f"{html.escape(str(deployment.get('model_id') or '?'))}{badge}"),
        ("deployed", f"{when(deployment.get('time'))}, {HOW.get(reason, 'by the hub')}"),
        ("why", decision_html(deployment.get("decision")) or "no decision recorded"),
        ("metrics", metrics_html(model.get("metrics") or {})),
        ("input", html.escape(str(size)) + counted),
        ("classes", classes),
    ]
    return (
        "<div class='grid'>"
        + "".join(f"<div class='k'>{k}</div><div>{v}</div>" for k, v in rows)
        + "</div>"
    )


def thumbnail(data: bytes) -> str:
    """A small PNG data URI of the uploaded image ('' when it cannot be made)."""
    try:
        from PIL import Image

        opened = Image.open(io.BytesIO(data))
        opened.draft("RGB", (320, 320))
        image = opened.convert("RGB")
        image.thumbnail((160, 160))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
    except Exception:
        return ""
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def result_html(name: str, data: bytes, answer: dict[str, Any], elapsed_ms: float) -> str:
    """The top classes as probability bars, and which model answered."""
    top = answer["predictions"][0]["top"]
    bars = "".join(
        f"<div class='mlops-demo-bar{' best' if i == 0 else ''}'>"
        f"<span class='name'>{html.escape(str(entry['class']))}</span>"
        f"<div class='track'><div class='fill' style='width:{100 * entry['probability']:.1f}%'>"
        f"</div></div><span class='pct'>{100 * entry['probability']:.1f}%</span></div>"
        for i, entry in enumerate(top)
    )
    best = top[0]
    thumb = thumbnail(data)
    image = f"<img src='{thumb}' alt='uploaded image'>" if thumb else ""
    return (
        f"<div class='box'>{image}<div class='bars'><div class='headline'>"
        f"{html.escape(str(best['class']))} <span class='sub'>"
        f"{100 * best['probability']:.1f}%</span></div>{bars}"
        f"<div class='meta'>{html.escape(name)} &middot; model "
        f"{html.escape(str(answer.get('model_id') or '?'))} (sha1 {short(answer.get('sha1'))})"
        f" &middot; {elapsed_ms:.1f} ms</div></div></div>"
    )

"""The side panel follows JupyterLab's conventions, in Chromium against a real ``jupyter lab``.

- Settings: the panel no longer opens itself on every page load (``openOnStart``, off by
  default); the saved layout (the layout restorer) or the command opens it, and the setting on
  opens it at start.
- The deploy gate's decision shows next to each model and in the deployment history: the
  hub's sentence, p, b/c and n, and "gate bypassed" for a deploy by hand past the gate.
- The dark theme: every colour comes from JupyterLab's theme variables, so the drop zone is the
  theme's dark layout colour (not the old fixed light brown) and text stays readable; the
  screenshot is ``docs/screenshots/panel-dark.png`` (refreshed with MLOPS_UPDATE_SCREENSHOTS=1).

Models are stored the only way the hub allows (a scripted worker that leases the trials and
uploads real model files with per-example test results), so every decision is the hub's own.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.evidence import evaluation_record
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_lab_panel import _open_lab
from tests.support.leases import seed_models
from tests.support.models import exported, tiny_classifier, write_variant
from tests.support.server import MLOpsServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]
DOC_SHOTS = REPO / "docs" / "screenshots"
PLUGIN = "jupyter-mlops:plugin"
THEMES = "@jupyterlab/apputils-extension:themes"
PANEL = ".jp-mlops-panel"
TAB = ".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='jp-mlops-panel']"
#: The drop zone's old fixed background (a light brown), in the form the browser computes.
OLD_DROPZONE = "rgb(243, 229, 207)"
N = 200  # test examples of every seeded model


def _results(right: int, *, gained: int = 0, lost: int = 0) -> list[bool]:
    """Per-example results: the first ``right`` examples right, then ``gained`` of the wrong
    ones right and ``lost`` of the right ones wrong (the discordant pairs b and c against
    ``_results(right)``)."""
    bits = [i < right for i in range(N)]
    for i in range(right, right + gained):
        bits[i] = True
    for i in range(lost):
        bits[i] = False
    return bits


def _model(path: Path, seed: int, bits: list[bool], test_set: str) -> Path:
    build = functools.partial(tiny_classifier, 3, 10, seed)
    template = exported(("tiny", seed), build, (2, 3, 16, 16))
    write_variant(
        path,
        template,
        classes=[f"class{i}" for i in range(10)],
        normalization={"mean": [0.5] * 3, "std": [0.25] * 3},
        hyperparameters={"LEARNING_RATE": 0.001 * (seed + 1)},
        metrics={"test_accuracy": sum(bits) / len(bits)},
        evaluation=evaluation_record(bits, test_set),
    )
    return path


def _seed_decisions(server: MLOpsServer, folder: Path) -> dict[str, str]:
    """Store four models, in this order: the first (deployed: nothing was), one better by a
    hair (b=3, c=1: could be chance), one clearly better (b=30, c=2: deployed) and one tested
    on another test set (never auto-deployed); return their ids by role."""
    folder.mkdir(parents=True, exist_ok=True)
    same, other = "a" * 64, "b" * 64
    files = [
        _model(folder / "first.zip", 0, _results(160), same),
        _model(folder / "hair.zip", 1, _results(160, gained=3, lost=1), same),
        _model(folder / "clear.zip", 2, _results(160, gained=30, lost=2), same),
        _model(folder / "elsewhere.zip", 3, _results(194), other),
    ]
    ids = seed_models(server, files, name="gate-seeder")
    return dict(zip(("first", "hair", "clear", "elsewhere"), ids, strict=True))


def _put_setting(server: MLOpsServer, plugin: str, values: dict[str, Any]) -> None:
    """Save a user setting through JupyterLab's settings API, as the settings editor does."""
    body = json.dumps({"raw": json.dumps(values)}).encode()
    status, raw = server.request(
        "PUT", f"lab/api/settings/{plugin}", body, headers={"Content-Type": "application/json"}
    )
    assert status == 204, raw


def _started(page: Any) -> Any:
    """The panel once the plugin has decided, after the layout was restored, whether to open
    it at start (it says so in ``data-open-on-start``)."""
    panel = page.locator(f"{PANEL}[data-open-on-start]")
    panel.wait_for(state="attached", timeout=120_000)
    return panel


def _workspace_left_current(server: MLOpsServer) -> str | None:
    """The widget the saved layout shows in the left area (the layout restorer's record)."""
    status, raw = server.request("GET", "lab/api/workspaces/default")
    if status != 200:
        return None
    data = json.loads(raw).get("data", {})
    return (data.get("layout-restorer:data", {}).get("left") or {}).get("current")


def _run_from_palette(page: Any, label: str, tries: int = 3) -> None:
    """Run a command from JupyterLab's command palette (View > Command Palette).

    The palette is a modal that a late focus change (the page still settling) can close
    between opening and typing; then it is opened again, up to ``tries`` times."""
    from playwright.sync_api import Error

    palette = page.locator(".lm-CommandPalette-input")
    for attempt in range(tries):
        try:
            if not palette.is_visible():
                page.get_by_role("menuitem", name="View", exact=True).click()
                page.get_by_role("menuitem", name=re.compile("Command Palette")).click()
            palette.fill(label, timeout=10_000)
            page.locator(".lm-CommandPalette-item", has_text=label).first.click(timeout=10_000)
            return
        except Error:
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")


def test_panel_opens_on_start_only_when_set(lab_server: MLOpsServer, lab_page: Any) -> None:
    from playwright.sync_api import expect

    server, page = lab_server, lab_page
    tab = page.locator(TAB)

    # 1. by default the panel stays closed on a fresh layout: its tab is there, not opened
    page.goto(f"{server.url}lab?reset&token={server.token}")
    panel = _started(page)
    expect(panel).to_have_attribute("data-open-on-start", "false")
    expect(tab).to_be_visible()
    expect(panel).to_be_hidden()
    expect(tab).not_to_have_class(_has("lm-mod-current"))

    # 2. its command (from the palette) opens it
    _run_from_palette(page, "MLOps: open panel")
    expect(panel).to_be_visible()

    # 3. the saved layout keeps it open on the next load: restored, not forced open
    server.wait_for(lambda: _workspace_left_current(server) == "jp-mlops-panel", timeout=60)
    page.goto(f"{server.url}lab?token={server.token}")
    panel = _started(page)
    expect(panel).to_have_attribute("data-open-on-start", "false")
    expect(panel).to_be_visible()

    # 4. with the setting on, the panel opens even on a fresh layout
    _put_setting(server, PLUGIN, {"openOnStart": True})
    status, raw = server.request("GET", f"lab/api/settings/{PLUGIN}")
    assert status == 200 and json.loads(raw)["settings"]["openOnStart"] is True, raw
    page.goto(f"{server.url}lab?reset&token={server.token}")
    panel = _started(page)
    expect(panel).to_have_attribute("data-open-on-start", "true")
    expect(panel).to_be_visible()
    expect(tab).to_have_class(_has("lm-mod-current"))


def test_decisions_show_next_to_models_and_in_history(
    lab_server: MLOpsServer, lab_page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    server, page = lab_server, lab_page
    panel = _open_lab(page, server)
    expect(panel.locator("[data-testid=mlops-connection]")).to_have_attribute("data-state", "open")
    role = _seed_decisions(server, tmp_path / "models")  # while the panel follows live
    models = {m["id"]: m for m in server.api("GET", "models")[1]["models"]}
    decision = {name: models[model_id]["decision"] for name, model_id in role.items()}
    assert decision["first"]["deployed"] and decision["clear"]["deployed"], decision
    assert not decision["hair"]["deployed"] and not decision["elsewhere"]["deployed"], decision
    assert (decision["hair"]["b"], decision["hair"]["c"], decision["hair"]["n"]) == (3, 1, N)
    assert server.api("GET", "deployment")[1]["deployment"]["model_id"] == role["clear"]

    expect(panel.locator(".jp-mlops-model")).to_have_count(4)

    # notifications: each automatic deploy (model, sha1 prefix, the decision's sentence) and
    # the finished job; none for the model the gate kept out. The center keeps them all.
    page.locator(".jp-Notification-Status").click()
    items = page.locator(".jp-Notification-List-Item")
    for name in ("first", "clear"):
        sha1 = models[role[name]]["sha1"]
        said = decision[name]["reason"].removeprefix("deployed: ")
        note = items.filter(has_text=f"Model {role[name]} deployed (sha1 {sha1[:8]}): {said}")
        expect(note).to_have_count(1)
    expect(items.filter(has_text=f"Model {role['hair']} deployed")).to_have_count(0)
    expect(items.filter(has_text=re.compile(r"Job #\d+ finished"))).not_to_have_count(0)
    page.locator(".jp-Notification-Status").click()

    def card(name: str) -> Any:
        return panel.locator(f".jp-mlops-model[data-model-id='{role[name]}']")

    def shown(name: str) -> Any:
        return card(name).locator("[data-testid=mlops-decision]")

    # each model's card says what the gate decided, in the hub's own words (as text)
    for name in role:
        expect(shown(name).locator(".jp-mlops-decision-reason")).to_have_text(
            decision[name]["reason"]
        )
    expect(shown("first")).to_have_attribute("data-state", "deployed")
    expect(shown("first")).to_contain_text("nothing was deployed yet")
    expect(shown("first").locator(".jp-mlops-decision-fact")).to_have_count(0)
    # better by a hair: stored, not deployed, and why: p, b/c and n
    expect(shown("hair")).to_have_attribute("data-state", "refused")
    expect(shown("hair")).to_contain_text("could be chance")
    expect(shown("hair").locator(".jp-mlops-decision-fact")).to_have_text(
        ["p = 0.31", "b/c = 3/1", f"n = {N}"]
    )
    expect(shown("clear")).to_have_attribute("data-state", "deployed")
    expect(shown("clear")).to_contain_text("better beyond chance")
    expect(shown("clear").locator(".jp-mlops-decision-fact")).to_have_text(
        ["p < 0.0001", "b/c = 30/2", f"n = {N}"]
    )
    expect(card("clear")).to_have_attribute("data-deployed", "true")
    expect(shown("elsewhere")).to_have_attribute("data-state", "refused")
    expect(shown("elsewhere")).to_contain_text("different test sets")
    # the history names the decision behind each deployment
    rows = panel.locator(".jp-mlops-history-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-model-id", role["clear"])
    expect(rows.first.locator(".jp-mlops-decision-reason")).to_have_text(
        decision["clear"]["reason"]
    )

    # a deploy by hand of the model on another test set: allowed, marked "gate bypassed"
    card("elsewhere").locator(".jp-mlops-deploy-button").click()
    expect(card("elsewhere")).to_have_attribute("data-deployed", "true")
    expect(shown("elsewhere")).to_have_attribute("data-state", "bypassed")
    expect(shown("elsewhere").locator("[data-testid=mlops-gate-bypassed]")).to_have_text(
        "gate bypassed"
    )
    expect(rows).to_have_count(3)
    expect(rows.first).to_have_attribute("data-reason", "manual")
    expect(rows.first.locator("[data-testid=mlops-gate-bypassed]")).to_have_count(1)
    deployed = server.api("GET", "deployment")[1]["deployment"]
    assert deployed["model_id"] == role["elsewhere"]
    assert deployed["decision"]["bypassed"] is True, deployed["decision"]
    expect(rows.first.locator(".jp-mlops-decision-reason")).to_have_text(
        deployed["decision"]["reason"]
    )
    panel.locator("[data-testid=mlops-models]").evaluate(
        "node => node.scrollIntoView({block: 'start'})"
    )
    folder = ARTIFACTS / "lab-conventions"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "decisions.png"))


#: The effective text and background colours of an element, as [r, g, b] in 0..255: the
#: background is the first opaque one up the tree; a translucent text colour is blended on it.
_COLOURS = """node => {
    const parse = text => {
        const n = (text.match(/[\\d.]+/g) || []).map(Number);
        // color-mix() computes to "color(srgb r g b / a)", channels in 0..1
        return text.startsWith('color(')
            ? [n[0] * 255, n[1] * 255, n[2] * 255, n.length > 3 ? n[3] : 1]
            : n;
    };
    let bg = null;
    for (let at = node; at && !bg; at = at.parentElement) {
        const c = parse(getComputedStyle(at).backgroundColor);
        if (c.length >= 3 && (c.length === 3 || c[3] > 0.99)) bg = c.slice(0, 3);
    }
    bg = bg || [255, 255, 255];
    const fg = parse(getComputedStyle(node).color);
    const alpha = fg.length > 3 ? fg[3] : 1;
    return [fg.slice(0, 3).map((v, i) => v * alpha + bg[i] * (1 - alpha)), bg];
}"""


def _luminance(rgb: list[float]) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: list[float], b: list[float]) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_panel_reads_in_the_dark_theme(
    lab_server: MLOpsServer, lab_page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    server, page = lab_server, lab_page
    _seed_decisions(server, tmp_path / "models")
    _put_setting(server, THEMES, {"theme": "JupyterLab Dark"})

    panel = _open_lab(page, server)
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-name", "JupyterLab Dark")
    expect(panel.locator(".jp-mlops-model")).to_have_count(4)

    # the drop zone is the theme's layout colour, resolved in the page: dark, not light brown
    dropzone = panel.locator(".jp-mlops-dropzone")
    background = dropzone.evaluate("node => getComputedStyle(node).backgroundColor")
    theme_value = panel.evaluate(
        """node => {
            const probe = document.createElement('div');
            probe.style.background = 'var(--jp-layout-color2)';
            node.appendChild(probe);
            const value = getComputedStyle(probe).backgroundColor;
            probe.remove();
            return value;
        }"""
    )
    assert background == theme_value, (background, theme_value)
    assert background != OLD_DROPZONE
    text, back = dropzone.locator(".jp-mlops-dropzone-title").evaluate(_COLOURS)
    assert _luminance(back) < 0.1, background  # a dark background ...
    assert _contrast(text, back) >= 4.5, (text, back)  # ... with readable text on it

    # badges, chips and decisions keep readable text in the dark theme (WCAG AA, 4.5:1)
    checked = [
        ".jp-mlops-badge",
        ".jp-mlops-chip",
        ".jp-mlops-decision-reason",
        ".jp-mlops-section-title",
        ".jp-mlops-model-title",
    ]
    for selector in checked:
        elements = panel.locator(selector)
        assert elements.count() > 0, selector
        for element in elements.all():
            if not element.is_visible():
                continue
            text, back = element.evaluate(_COLOURS)
            assert _contrast(text, back) >= 4.5, (selector, element.inner_text(), text, back)

    # the picture: the drop zone and the models with their decisions (other sections folded)
    for section in ("mlops-workers", "mlops-remote", "mlops-jobs"):
        panel.locator(f"[data-testid={section}] > .jp-mlops-section-header").click()
    panel.locator("[data-testid=mlops-launcher]").evaluate(
        "node => node.scrollIntoView({block: 'start'})"
    )
    folder = ARTIFACTS / "lab-conventions"
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / "panel-dark.png"
    page.screenshot(path=str(shot))
    if os.environ.get("MLOPS_UPDATE_SCREENSHOTS") == "1":
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, DOC_SHOTS / "panel-dark.png")


def _has(class_name: str) -> Any:
    return re.compile(rf"(^|\s){re.escape(class_name)}(\s|$)")

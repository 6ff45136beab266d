"""The JupyterLab side panel in Chromium against a real ``jupyter lab`` and a real worker kernel.

The server runs ``train_cifar.ipynb`` itself (``MLOpsApp.autostart_notebooks``) on a generated
tiny CIFAR-10 set, so the worker in the panel is the real notebook worker, as with the main
command. One scenario, step by step, with a screenshot of each step in
``test-artifacts/lab/``; with MLOPS_UPDATE_SCREENSHOTS=1 the best ones are also copied to
``docs/screenshots/`` for the README.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, LAB_TIMEOUT_MS, running
from tests.support.server import MLOpsServer
from tests.support.workers import NOTEBOOK, hub_log, hub_metrics, job_ended, tiny_data_dir

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CONF = REPO / "sample_conf.json"
DOC_SHOTS = REPO / "docs" / "screenshots"
WORKER = "cifar10-worker"
# 5 x 1200 training images, BATCH_SIZE 10: 600 batches per trial, long enough (some seconds
# per trial) to watch the job while it runs and to reload the page in the middle of it.
PER_BATCH = 1200
TEST_IMAGES = 500
# Pixel noise added to the generated images so that the classes overlap: on the plain tiny set
# both learning rates of sample_conf.json reach 100 % and "the better model" would be a tie.
NOISE = 300.0
PANEL_WIDTH = 560  # the side panel is widened for readable screenshots


def _noisy_tiny_data(base: Path) -> Path:
    """``tiny_data_dir`` with heavy, seeded pixel noise on every image."""
    import numpy as np

    tiny_data_dir(base, per_batch=PER_BATCH, test=TEST_IMAGES)
    rng = np.random.default_rng(1)
    for path in sorted(base.glob("*/*_batch*")):
        batch = pickle.loads(path.read_bytes())
        noisy = batch[b"data"] + rng.normal(0, NOISE, batch[b"data"].shape)
        batch[b"data"] = np.clip(noisy, 0, 255).astype(np.uint8)
        path.write_bytes(pickle.dumps(batch))
    return base


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[MLOpsServer]:
    """``jupyter lab`` with the extension that runs train_cifar.ipynb as its worker."""
    server = MLOpsServer(
        tmp_path / "server",
        app="lab",
        extra_config={"MLOpsApp": {"autostart_notebooks": [NOTEBOOK.name]}},
        extra_env={
            # relative to the notebook's folder, as a user would keep it (and as the log shows)
            "MLOPS_DATA_DIR": "data",
            "MLOPS_DATA_DOWNLOAD": "0",
            "JUPYTER_MLOPS_WORKER_DIR": str(tmp_path / "worker"),
        },
    )
    _noisy_tiny_data(server.notebook_dir / "data")
    shutil.copy(NOTEBOOK, server.notebook_dir / NOTEBOOK.name)
    yield from running(server)


class Shots:
    """Numbered screenshots in test-artifacts/lab/, some copied to docs/screenshots/."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.folder = ARTIFACTS / "lab"
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def take(self, step: str, doc_name: str | None = None) -> Path:
        from playwright.sync_api import Error

        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        # let CSS transitions (progress bars) settle, ignoring endless spinners; a picture
        # taken while something still moves is fine: screenshots are not assertions
        with contextlib.suppress(Error):
            self.page.wait_for_function(
                """() => document.getAnimations().every(
                    a => a.playState !== 'running'
                        || a.effect.getComputedTiming().iterations === Infinity)""",
                timeout=3_000,
            )
        self.page.screenshot(path=str(path))
        if doc_name and os.environ.get("MLOPS_UPDATE_SCREENSHOTS") == "1":
            DOC_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, DOC_SHOTS / doc_name)
        return path


def _open_lab(page: Any, server: MLOpsServer) -> Any:
    """Load JupyterLab with a fresh layout, open the MLOps panel, return it.

    The panel does not open itself by default (its ``openOnStart`` setting): once the layout
    is restored (the plugin then marks the panel with ``data-open-on-start``), its tab opens it.
    """
    page.goto(f"{server.url}lab?reset&token={server.token}")
    panel = page.locator(".jp-mlops-panel")
    tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='jp-mlops-panel']")
    page.locator(".jp-mlops-panel[data-open-on-start]").wait_for(state="attached", timeout=120_000)
    tab.wait_for(state="visible")
    if not panel.is_visible():
        tab.click()
    panel.wait_for(state="visible")
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(PANEL_WIDTH, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    return panel


def _drop_file(page: Any, target: Any, name: str, text: str) -> None:
    """Drag and drop a file onto ``target`` the way the browser does (DataTransfer + events)."""
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, { type: 'application/json' }));
            return transfer;
        }""",
        [name, text],
    )
    for event in ("dragenter", "dragover", "drop"):
        target.dispatch_event(event, {"dataTransfer": transfer})


def _dom_seqs(page: Any) -> list[int]:
    return page.eval_on_selector_all(
        ".jp-mlops-log .jp-mlops-log-line", "lines => lines.map(l => Number(l.dataset.seq))"
    )


def test_lab_panel_runs_a_grid_on_the_notebook_worker(
    lab_server: MLOpsServer, lab_page: Any
) -> None:
    from playwright.sync_api import expect

    page, server = lab_page, lab_server
    shots = Shots(page)

    # 1. the panel opens in the left bar, connected, and lists the notebook worker as online
    panel = _open_lab(page, server)
    expect(panel).to_be_visible()
    expect(panel.locator("[data-testid=mlops-connection]")).to_have_attribute("data-state", "open")
    worker = panel.locator(f".jp-mlops-worker[data-worker-name='{WORKER}']")
    expect(worker).to_have_attribute("data-online", "true", timeout=180_000)
    expect(panel.locator(".jp-mlops-worker")).to_have_count(1)
    worker.locator(".jp-mlops-defaults summary").click()
    expect(worker.locator(".jp-mlops-defaults .jp-mlops-chip")).to_have_count(6)
    expect(worker).to_contain_text("LEARNING_RATE=0.001")  # the defaults it declared
    workers = server.api("GET", "workers")[1]["workers"]
    assert [(w["name"], w["online"]) for w in workers] == [(WORKER, True)]
    shots.take("worker-online", "panel-workers.png")

    # 2. drop sample_conf.json on the drop zone: validated by the server, 2 trials
    conf_text = SAMPLE_CONF.read_text()
    _drop_file(page, panel.locator(".jp-mlops-dropzone"), SAMPLE_CONF.name, conf_text)
    count = panel.locator(".jp-mlops-trial-count")
    expect(count).to_have_attribute("data-count", "2")
    expect(count).to_contain_text("2 trials")
    assert json.loads(panel.locator(".jp-mlops-conf").input_value()) == json.loads(conf_text)
    expect(panel.locator(".jp-mlops-error")).to_have_count(0)
    panel.locator(".jp-mlops-worker-select").select_option(WORKER)
    launch = panel.locator(".jp-mlops-launch")
    expect(launch).to_be_enabled()
    shots.take("conf-dropped", "panel-launch.png")

    # 3. launch: the job, its trials and its log lines appear and grow while it runs
    launch.click()
    job_item = panel.locator(".jp-mlops-job").first
    expect(job_item).to_be_visible()
    job_id = int(job_item.get_attribute("data-job-id"))
    status, jobs = server.api("GET", "jobs")
    assert status == 200 and [j["id"] for j in jobs["jobs"]] == [job_id]
    job_item = panel.locator(f".jp-mlops-job[data-job-id='{job_id}']")
    expect(job_item).to_have_class(_has("jp-mlops-job-selected"))
    detail = panel.locator(f"[data-testid=mlops-job-detail][data-job-id='{job_id}']")
    expect(detail.locator(".jp-mlops-trial")).to_have_count(2)
    expect(detail.locator(".jp-mlops-trial[data-status=running]")).to_have_count(1)
    expect(job_item).to_have_attribute("data-status", "running")
    expect(job_item.locator(".jp-mlops-progress-text")).to_contain_text("batch")
    log_lines = detail.locator(".jp-mlops-log-line")
    expect(log_lines.first).to_be_visible()
    seen = len(_dom_seqs(page))
    # more lines arrive without any reload, while the hub still has the job running
    page.wait_for_function(
        "n => document.querySelectorAll('.jp-mlops-log .jp-mlops-log-line').length > n",
        arg=seen,
        timeout=LAB_TIMEOUT_MS,
    )
    expect(detail.locator(".jp-mlops-chart[data-metric=loss]").first).to_be_visible()
    live_job = server.api("GET", f"jobs/{job_id}")[1]
    assert live_job["status"] == "running", "the job ended before the panel was checked live"
    running = next(t for t in live_job["trials"] if t["status"] == "running")
    assert running["worker_name"] == WORKER, running
    # the trial card names the worker that holds its lease; the job card its trials' workers
    running_card = detail.locator(f".jp-mlops-trial[data-trial-id='{running['id']}']")
    expect(running_card).to_have_attribute("data-worker", WORKER)
    expect(running_card.locator(".jp-mlops-trial-worker")).to_contain_text(f"on {WORKER}")
    expect(job_item.locator(".jp-mlops-job-workers")).to_contain_text(f"on {WORKER}")
    expect(job_item.locator(".jp-mlops-retry")).to_have_count(0)  # no failed trial
    expect(worker.locator(".jp-mlops-worker-current")).to_contain_text(f"job #{job_id}")
    expect(worker).to_have_attribute("data-online", "true")
    job_item.evaluate("node => node.scrollIntoView({block: 'start'})")
    assert running["id"] in {f"{job_id}-0", f"{job_id}-1"}
    shots.take("running-live", "panel-live-log.png")

    # 4. reload in the middle of the job: the whole log is back, then it goes on live
    before = [line["seq"] for line in hub_log(server, job_id)]
    assert before, "the hub has no log lines yet"
    page.reload()
    panel = _open_lab(page, server)
    job_item = panel.locator(f".jp-mlops-job[data-job-id='{job_id}']")
    expect(job_item).to_have_class(_has("jp-mlops-job-selected"))
    detail = panel.locator(f"[data-testid=mlops-job-detail][data-job-id='{job_id}']")
    first_seq = detail.locator(f".jp-mlops-log-line[data-seq='{before[0]}']")
    last_seq = detail.locator(f".jp-mlops-log-line[data-seq='{before[-1]}']")
    expect(first_seq).to_have_count(1)
    expect(last_seq).to_have_count(1)
    after_reload = _dom_seqs(page)
    assert after_reload[: len(before)] == before
    assert len(after_reload) == len(set(after_reload))
    detail.locator(".jp-mlops-log").evaluate("node => node.scrollIntoView({block: 'end'})")
    shots.take("reloaded")

    # 5. the job finishes; the log matches the hub's line for line, no gap, no duplicate
    expect(job_item).to_have_attribute("data-status", "finished", timeout=240_000)
    job = server.wait_for(lambda: job_ended(server, job_id), timeout=30)
    assert job["status"] == "finished", job
    hub_seqs = [line["seq"] for line in hub_log(server, job_id)]
    expect(detail.locator(".jp-mlops-log")).to_have_attribute("data-count", str(len(hub_seqs)))
    assert _dom_seqs(page) == hub_seqs
    assert any(
        "finished: test_accuracy=" in text
        for text in detail.locator(".jp-mlops-log-line").all_inner_texts()
    )
    expect(detail.locator(".jp-mlops-trial[data-status=finished]")).to_have_count(2)
    expect(detail.locator(f".jp-mlops-trial[data-worker='{WORKER}']")).to_have_count(2)
    assert {t["worker_name"] for t in job["trials"]} == {WORKER}
    assert job["progress"] == 1.0
    bar = job_item.locator(".jp-mlops-progress-bar")
    expect(bar).to_have_attribute("style", re.compile(r"width:\s*100%"))
    points = hub_metrics(server, job_id)
    for trial in job["trials"]:
        card = detail.locator(f".jp-mlops-trial[data-trial-id='{trial['id']}']")
        # the loss curve holds every loss point the hub stored for the trial
        losses = [p for p in points if p["trial_id"] == trial["id"] and p["name"] == "loss"]
        assert len(losses) > 10
        chart = card.locator(".jp-mlops-chart[data-metric=loss]")
        expect(chart).to_have_attribute("data-points", str(len(losses)))
        chips = card.locator(".jp-mlops-chip")
        accuracy = f"test_accuracy {trial['metrics']['test_accuracy'] * 100:.1f}%"
        expect(chips.filter(has_text="test_accuracy")).to_have_text(accuracy)
        # numbers only: the worker's per_class_accuracy object is not dumped as JSON
        assert not [text for text in chips.all_inner_texts() if "{" in text]
    job_item.evaluate("node => node.scrollIntoView({block: 'start'})")
    shots.take("job-finished")

    # 6. both models are listed, each with the gate's decision; what the gate guarantees
    # holds whichever trial won: the first model stored is deployed (nothing was), the other
    # is judged against it and deployed only if better beyond chance, as its numbers say
    models = {m["id"]: m for m in server.api("GET", "models")[1]["models"]}
    assert sorted(models) == [f"{job_id}-0", f"{job_id}-1"]
    decisions = {model_id: m["decision"] for model_id, m in models.items()}
    firsts = [i for i, d in decisions.items() if d["champion_id"] is None]
    assert len(firsts) == 1, decisions
    first_id = firsts[0]
    second_id = next(model_id for model_id in models if model_id != first_id)
    first, second = decisions[first_id], decisions[second_id]
    assert first["deployed"] and first["reason"].startswith("deployed: nothing was deployed")
    assert second["champion_id"] == first_id and second["kind"] == "auto", second
    assert second["n"] > 0 and second["test"] == "mcnemar-exact", second
    if second["deployed"]:
        assert second["b"] > second["c"] and second["p_value"] < second["alpha"], second
    else:
        assert second["reason"].startswith("not deployed:"), second
    deployed_id = second_id if second["deployed"] else first_id
    other_id = first_id if second["deployed"] else second_id
    deployment = server.api("GET", "deployment")[1]["deployment"]
    assert deployment["model_id"] == deployed_id, (deployment, decisions)
    autos = server.api("GET", "deployment/history")[1]["history"][::-1]  # oldest first
    assert [(h["model_id"], h["reason"]) for h in autos] == [(first_id, "auto")] + (
        [(second_id, "auto")] if second["deployed"] else []
    )
    assert all(h["decision"]["deployed"] for h in autos)
    cards = panel.locator(".jp-mlops-model")
    expect(cards).to_have_count(2)
    deployed_card = panel.locator(f".jp-mlops-model[data-model-id='{deployed_id}']")
    other_card = panel.locator(f".jp-mlops-model[data-model-id='{other_id}']")
    for model_id, decision in decisions.items():  # the hub's sentence, next to its model
        card = panel.locator(f".jp-mlops-model[data-model-id='{model_id}']")
        expect(card.locator(".jp-mlops-decision-reason")).to_have_text(decision["reason"])
    second_card = panel.locator(f".jp-mlops-model[data-model-id='{second_id}']")
    facts = [f"b/c = {second['b']}/{second['c']}", f"n = {second['n']:,}"]
    for fact in facts:
        expect(second_card.locator(".jp-mlops-decision-fact", has_text=fact)).to_have_count(1)
    expect(deployed_card).to_have_attribute("data-deployed", "true")
    expect(deployed_card).to_have_class(_has("jp-mlops-model-deployed"))
    expect(deployed_card).to_have_attribute("data-sha1", models[deployed_id]["sha1"])
    expect(deployed_card.locator(".jp-mlops-deploy-button")).to_have_count(0)
    expect(other_card).to_have_attribute("data-deployed", "false")
    expect(panel.locator(".jp-mlops-model-deployed")).to_have_count(1)
    summary = panel.locator("[data-testid=mlops-deployed]")
    expect(summary).to_have_attribute("data-model-id", deployed_id)
    rows = panel.locator(".jp-mlops-history-row")
    expect(rows).to_have_count(len(autos))
    for row, auto in zip(rows.all(), autos[::-1], strict=True):  # shown newest first
        expect(row).to_have_attribute("data-reason", "auto")
        expect(row).to_have_attribute("data-model-id", auto["model_id"])
    models_section = panel.locator("[data-testid=mlops-models]")
    models_section.evaluate("node => node.scrollIntoView({block: 'start'})")
    shots.take("models-auto-deployed")

    # 7. Deploy on the other model: allowed past the gate (which refused it either way: it is
    # not better beyond chance than the one deployed), the mark moves, a manual row is added
    other_card.locator(".jp-mlops-deploy-button").click()
    expect(other_card).to_have_attribute("data-deployed", "true")
    expect(deployed_card).to_have_attribute("data-deployed", "false")
    expect(panel.locator(".jp-mlops-model-deployed")).to_have_count(1)
    expect(summary).to_have_attribute("data-model-id", other_id)
    expect(summary).to_have_attribute("data-sha1", models[other_id]["sha1"])
    expect(rows).to_have_count(len(autos) + 1)
    expect(rows.first).to_have_attribute("data-model-id", other_id)
    expect(rows.first).to_have_attribute("data-reason", "manual")
    expect(rows.nth(1)).to_have_attribute("data-model-id", deployed_id)
    expect(deployed_card.locator(".jp-mlops-deploy-button")).to_be_visible()
    manual = server.api("GET", "deployment")[1]["deployment"]
    assert manual["model_id"] == other_id
    assert manual["decision"]["kind"] == "manual" and manual["decision"]["bypassed"], manual
    expect(other_card.locator("[data-testid=mlops-gate-bypassed]")).to_have_count(1)
    expect(rows.first.locator(".jp-mlops-decision-reason")).to_have_text(
        manual["decision"]["reason"]
    )
    history = server.api("GET", "deployment/history")[1]["history"]
    assert [(h["model_id"], h["reason"]) for h in history] == [(other_id, "manual")] + [
        (h["model_id"], "auto") for h in autos[::-1]
    ]
    models_section.evaluate("node => node.scrollIntoView({block: 'start'})")
    shots.take("manual-deploy", "panel-models.png")


def _has(class_name: str) -> Any:
    """A regex for ``to_have_class`` that matches one class among several."""
    return re.compile(rf"(^|\s){re.escape(class_name)}(\s|$)")

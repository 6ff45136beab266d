"""A job's compare tab in Chromium against a real ``jupyter lab``: every trial, live curves.

A scripted worker on the real worker websocket runs a random search with a median pruner
the way a notebook worker would (trial started, progress and ``test_accuracy`` per epoch,
trial finished): two trials finish, the third reports a value below the median at epoch 1
and the hub prunes it (its worker gets the ``cancel`` and answers ``trial_cancelled``), the
fourth keeps running. The tab opened from the side panel lists the four trials with their
statuses (pruned included, with the epoch it was pruned at) and marks the best one; then
the running trial reports another epoch and the overlaid curves are drawn again with that
point. The values are scripted, so which trial is best is known.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tests.browser.test_lab_panel import _open_lab
from tests.support.fake_worker import FakeWorker, ThreadedScript
from tests.support.leases import lease_of
from tests.support.server import MLOpsServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

WORKER = "scripted-searcher"
EPOCHS = 3
CONF = {
    "EPOCHS": EPOCHS,
    "LEARNING_RATE": {"low": 0.0001, "high": 0.1, "log": True},
    "search": {
        "method": "random",
        "budget": 4,
        "parallel": 1,
        "seed": 3,
        "pruner": {"type": "median", "startup_trials": 2, "warmup_epochs": 0},
    },
}
#: test_accuracy per epoch of each trial; trial 2 is below the median of 0 and 1 at epoch 1
CURVES = [[0.5, 0.7, 0.8], [0.6, 0.8, 0.9], [0.1], [0.6]]
LATE_POINT = 0.75  # trial 3's epoch 2, sent once the tab shows the first points


class SearchWorker(ThreadedScript):
    """Runs the search's trials as scripted in ``CURVES``, then one more point on request."""

    def __init__(self, server: MLOpsServer) -> None:
        super().__init__(server)
        self.advance = threading.Event()
        self.advanced = threading.Event()
        self.job_id = 0
        self.cancels: list[dict[str, Any]] = []

    def send_late_point(self) -> None:
        self.advance.set()
        assert self.advanced.wait(60), "the late point was not sent"
        self.check()

    def failed(self) -> None:
        self.ready.set()
        self.advanced.set()

    async def script(self, worker: FakeWorker) -> None:
        server = self.server
        held: list[dict[str, Any]] = []  # messages that came while waiting for another type

        async def receive(kind: str) -> dict[str, Any]:
            for message in held:
                if message["type"] == kind:
                    held.remove(message)
                    return message
            while True:
                message = await worker.receive(timeout=60)
                if message["type"] == kind:
                    return message
                held.append(message)

        await worker.send(
            {
                "type": "hello",
                "name": WORKER,
                "session": f"{WORKER}-session",
                "notebook": "search.ipynb",
                "device": "cpu",
                "defaults": {"EPOCHS": 1, "LEARNING_RATE": 0.001},
            }
        )
        await receive("welcome")
        status, job = server.api("POST", "jobs", {"worker": WORKER, "conf": CONF})
        assert status == 201, job
        self.job_id = job_id = job["id"]
        seq = 0

        async def send(*events: dict[str, Any]) -> None:
            nonlocal seq
            for event in events:
                seq += 1
                event.update(job_id=job_id, seq=seq)
            await worker.send({"type": "events", "events": list(events)})
            await receive("ack")  # a job or cancel sent before the ack is kept

        async def epoch(trial: dict[str, Any], number: int, value: float) -> None:
            await send(
                {"type": "progress", **trial, "epoch": number, "epochs": EPOCHS, "batch": 1},
                {"type": "metric", **trial, "name": "test_accuracy", "step": number,
                 "value": value},
            )  # fmt: skip

        for index, curve in enumerate(CURVES):
            lease = lease_of(await receive("job"))
            assert lease.trial_id == f"{job_id}-{index}", lease
            trial = {"trial_id": lease.trial_id, "attempt": lease.attempt}
            await send({"type": "trial_started", **trial})
            for number, value in enumerate(curve, 1):
                await epoch(trial, number, value)
            if len(curve) == EPOCHS:  # ran to the end
                metrics = {"test_accuracy": curve[-1], "test_loss": 1 - curve[-1]}
                await send(
                    {"type": "trial_finished", **trial, "metrics": metrics},
                    {"type": "job_finished"},
                )
            elif index == 2:  # pruned by the hub: stop as the worker does on a cancel
                cancel = await receive("cancel")
                self.cancels.append(cancel)
                await send({"type": "trial_cancelled", **trial}, {"type": "job_finished"})
        self.ready.set()
        while not self.advance.is_set() and not self.stop.is_set():
            await asyncio.sleep(0.1)
        if self.advance.is_set():
            await epoch(trial, 2, LATE_POINT)  # trial 3 is still running
            self.advanced.set()
        while not self.stop.is_set():
            await asyncio.sleep(0.2)


def _drawn_rows(chart: Any) -> int:
    value = chart.get_attribute("data-drawn-rows")
    return -1 if value is None else int(value)


def test_the_compare_tab_shows_every_trial_and_draws_new_points_live(
    lab_server: MLOpsServer, tall_lab_page: Any
) -> None:
    from playwright.sync_api import expect

    server, page = lab_server, tall_lab_page
    with SearchWorker(server) as worker:
        job_id = worker.job_id
        # the hub's view first: what the tab must show
        _, job = server.api("GET", f"jobs/{job_id}")
        statuses = {t["id"]: t["status"] for t in job["trials"]}
        assert statuses == {
            f"{job_id}-0": "finished",
            f"{job_id}-1": "finished",
            f"{job_id}-2": "pruned",
            f"{job_id}-3": "running",
        }, job["trials"]
        assert worker.cancels and worker.cancels[0]["trial_id"] == f"{job_id}-2"

        panel = _open_lab(page, server)
        card = panel.locator(f".jp-mlops-job[data-job-id='{job_id}']")
        card.locator("[data-testid=mlops-compare-open]").click()
        tab = page.locator(f"[data-testid=mlops-compare][data-job-id='{job_id}']")
        expect(tab).to_be_visible()

        # every trial is a row, with its status; the pruned one says at which epoch
        rows = tab.locator("[data-testid=mlops-compare-row]")
        expect(rows).to_have_count(len(CURVES))
        for trial_id, status in statuses.items():
            row = tab.locator(f"[data-testid=mlops-compare-row][data-trial-id='{trial_id}']")
            expect(row).to_have_attribute("data-status", status)
            expect(row.locator("td[data-column=status]")).to_have_text(status)
        pruned = tab.locator(f"[data-testid=mlops-compare-row][data-trial-id='{job_id}-2']")
        expect(pruned.locator("td[data-column=pruned]")).to_have_text(f"1/{EPOCHS}")
        expect(tab.locator("[data-testid=mlops-compare-row-count]")).to_have_text(
            f"{len(CURVES)} of {len(CURVES)} trials"
        )
        # the best finished trial (scripted: trial 1) is marked in the header and the table
        expect(tab.locator("[data-testid=mlops-compare-best]")).to_have_attribute(
            "data-trial-id", f"{job_id}-1"
        )
        best_rows = tab.locator("[data-testid=mlops-compare-row][data-best=true]")
        expect(best_rows).to_have_count(1)
        expect(best_rows).to_have_attribute("data-trial-id", f"{job_id}-1")
        # the status filter keeps only the pruned trial
        tab.locator("[data-testid=mlops-compare-status-filter]").select_option("pruned")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-trial-id", f"{job_id}-2")
        tab.locator("[data-testid=mlops-compare-status-filter]").select_option("all")
        expect(rows).to_have_count(len(CURVES))

        # the overlay: every test_accuracy point of every trial, drawn by Vega
        curves = tab.locator("[data-testid=mlops-compare-curves]")
        points = sum(len(c) for c in CURVES)
        expect(curves).to_have_attribute("data-drawn-rows", str(points))
        expect(curves.locator("canvas, svg").first).to_be_visible()
        # a new epoch of the running trial arrives over the websocket: drawn without a reload
        worker.send_late_point()
        expect(curves).to_have_attribute("data-drawn-rows", str(points + 1))
        assert _drawn_rows(curves) == points + 1
        expect(rows).to_have_count(len(CURVES))

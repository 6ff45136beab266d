"""The worker's live view (``start_worker(...)`` displayed in a notebook): its widgets' state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.kernel_client import Callback, Worker
from jupyter_mlops.kernel_client.worker.view import CURVE_POINTS, WorkerView, curve_svg
from tests.support.fake_hub import FakeHub, worker_on
from tests.support.synthetic import DEFAULTS, synthetic_trial

pytestmark = pytest.mark.timeout(120)

NAME = "<img src=x onerror=alert(1)>&w"


@pytest.fixture
def worker(fake_hub: FakeHub, tmp_path: Path) -> Iterator[Worker]:
    w = worker_on(fake_hub, synthetic_trial, DEFAULTS, tmp_path / "w", name=NAME)
    yield w
    w.stop()


class Probe(Callback):
    """Redraws the view inside the training loop at one batch and keeps what it showed."""

    def __init__(self, view: WorkerView, at: tuple[int, int]) -> None:
        self.view, self.at = view, at
        self.seen: dict[str, Any] = {}

    def on_train_batch_end(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        if (epoch, batch) != self.at:
            return
        view = self.view
        view.refresh()
        self.seen = {
            "epoch": (view.epoch.value, view.epoch.max, view.epoch_text.value),
            "batch": (view.batch.value, view.batch.max, view.batch_text.value),
            "trial": view.trial.value,
            "curve": view.curve.value,
            "points": view.points(),
            "bars": view.bars.layout.display,
        }


def test_the_view_follows_a_trial_from_the_worker_itself(fake_hub: FakeHub, worker: Worker) -> None:
    view = worker.view()
    assert worker.view() is view  # one view per worker
    probe = Probe(view, at=(2, 2))
    worker.callbacks.append(probe)
    assert "waiting for a job" in view.trial.value
    assert view.bars.layout.display == "none"  # no progress to show yet
    params = {"EPOCHS": 3, "BATCHES": 3, "EPOCH_SECONDS": 0.03}
    entry = {"id": "7-1", "index": 1, "params": params, "attempt": 2, "lease": "s"}
    fake_hub.send(
        {"type": "job", "job": {"id": 7, "conf": {}, "trial_count": 3, "trials": [entry]}}
    )
    fake_hub.wait_for(lambda: fake_hub.of_type("job_finished"))

    seen = probe.seen
    assert seen["epoch"] == (2, 3, "2/3") and seen["batch"] == (2, 3, "2/3")
    assert seen["bars"] == ""
    assert "job 7" in seen["trial"] and "<b>trial 2/3</b>" in seen["trial"]
    assert "attempt 2" in seen["trial"] and "<code>7-1</code>" in seen["trial"]
    name, points = seen["points"]
    assert name == "loss" and [step for step, _ in points] == [1, 2, 3, 4, 5]
    assert "<polyline" in seen["curve"] and "5 points" in seen["curve"]

    view.refresh()  # after the job: waiting again, its outcome counted
    assert "waiting for a job (1 assignment(s) done)" in view.trial.value
    assert "train_loss" in view.metrics.value
    # what came from elsewhere is escaped; the theme's colours with light fallbacks
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;w" in view.header.value
    assert "<img" not in view.header.value and "connected" in view.header.value
    assert "var(--jp-ui-font-color1, #1f2933)" in view.children[0].value
    # displayed in a notebook, the worker is this live view
    bundle = worker._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.model_id
    assert bundle["text/plain"].startswith("<Worker ")


def test_redraws_are_bounded_and_the_last_change_follows(worker: Worker) -> None:
    view = worker.view()
    view.interval = 3600.0
    view._shown_at = float("-inf")
    view.changed()  # the first change is drawn at once
    worker.name = "renamed"
    view.changed()  # the next within the interval waits for a timer
    assert "renamed" not in view.header.value and view._timer is not None
    view._timer.cancel()
    view._late()  # what the timer does: the latest state
    assert "renamed" in view.header.value


def test_a_long_curve_is_thinned_keeping_the_newest_points(worker: Worker) -> None:
    view = worker.view()
    for step in range(1, 1001):
        view.add_point("loss", step, 1.0 / step)
    view.add_point("loss", 1001, float("nan"))  # not drawable: skipped
    name, points = view.points()
    assert name == "loss" and len(points) <= CURVE_POINTS
    assert points[-1][0] == 1000 and points[0][0] == 1
    assert [s for s, _ in points] == sorted(s for s, _ in points)


def test_the_curve_is_numbers_only() -> None:
    svg = curve_svg("<b>loss</b>", [(1, 2.0), (2, 1.0)])
    assert "&lt;b&gt;loss&lt;/b&gt;" in svg and "<b>" not in svg
    assert curve_svg("loss", []) == ""

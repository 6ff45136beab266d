"""``jupyter_mlops.log`` and its kin from training code without callbacks; a model returned alone.

The worker runs against a fake hub (tests/support/fake_hub.py); the training functions are
in tests/support/anycode.py.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

import jupyter_mlops
from jupyter_mlops.kernel_client import Callback, TrialResult, Worker
from jupyter_mlops.kernel_client.worker import reporting
from jupyter_mlops.kernel_client.worker.result import TrialResultError
from jupyter_mlops.modelfile import read_metadata
from tests.support import anycode
from tests.support.fake_hub import FakeHub, worker_on

pytestmark = pytest.mark.timeout(120)

FAST = {"EPOCHS": 3, "BATCHES": 2, "BAR_STEPS": 20}


class Grab(Callback):
    """Records the checkpoints the trial hands to the worker."""

    def __init__(self) -> None:
        self.states: list[dict] = []

    def on_checkpoint(self, state) -> None:
        self.states.append(dict(state))


@pytest.fixture
def grab() -> Grab:
    return Grab()


@pytest.fixture
def worker(fake_hub: FakeHub, tmp_path: Path, grab: Grab) -> Iterator[Worker]:
    w = worker_on(fake_hub, anycode.plain_loop, anycode.DEFAULTS, tmp_path / "w", callbacks=[grab])
    yield w
    w.stop()
    anycode.hold_epoch_2 = None


def assign(fake_hub: FakeHub, job_id: int, epoch: int | None = None, **params) -> str:
    trial = f"{job_id}-0"
    entry = {
        "id": trial,
        "index": 0,
        "params": {**FAST, **params},
        "attempt": 1,
        "lease": f"lease-{trial}",
        "checkpoint": {"epoch": epoch} if epoch else None,
    }
    fake_hub.send({"type": "job", "job": {"id": job_id, "conf": {}, "trials": [entry]}})
    return trial


def ended(fake_hub: FakeHub) -> list[dict]:
    return fake_hub.wait_for(
        lambda: fake_hub.of_type("job_finished") + fake_hub.of_type("job_cancelled")
    )


# -- what a training function may return ----------------------------------------------------


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 3))


def test_a_model_alone_is_completed_from_what_the_trial_saw() -> None:
    model = small_model()
    example = torch.zeros(2, 3, 4, 4)
    result = TrialResult.coerce(model, example_input=example, logged={"accuracy": 0.5})
    assert result.model is model and result.example_input is example
    assert result.classes == ["0", "1", "2"]  # from the output size
    assert result.metrics == {"accuracy": 0.5}


def test_returned_metrics_override_the_logged_ones() -> None:
    model = small_model()
    model.example_input_array = torch.zeros(1, 3, 4, 4)  # the Lightning convention
    result = TrialResult.coerce((model, {"accuracy": 0.9}), logged={"accuracy": 0.5, "loss": 1})
    assert result.metrics == {"accuracy": 0.9, "loss": 1}
    assert tuple(result.example_input.shape) == (1, 3, 4, 4)
    named = TrialResult.coerce(
        {"model": model, "classes": ["a", "b", "c"]}, example_input=torch.ones(2, 3, 4, 4)
    )
    assert named.classes == ["a", "b", "c"] and torch.equal(
        named.example_input[0], torch.ones(3, 4, 4)
    )


def test_a_model_classes_attribute_names_the_classes() -> None:
    model = small_model()
    model.classes = ["cat", "dog", "eel"]
    result = TrialResult.coerce(model, example_input=torch.zeros(2, 3, 4, 4))
    assert result.classes == ["cat", "dog", "eel"]


@pytest.mark.parametrize(
    ("returned", "says"),
    [
        (small_model(), "jupyter_mlops.watch(model)"),
        ({"metrics": {"a": 1}}, "without a 'model'"),
        ((small_model(), 0.5), "(model, metrics)"),
        (0.93, "must return the trained model"),
    ],
)
def test_what_cannot_be_inferred_is_named(returned, says: str) -> None:
    with pytest.raises(TrialResultError, match=None) as caught:
        TrialResult.coerce(returned)
    assert says in str(caught.value)


def test_an_output_that_is_not_class_scores_needs_classes() -> None:
    with pytest.raises(TrialResultError, match=r"output has shape \[2, 3, 4, 4\]"):
        TrialResult.coerce(nn.Identity(), example_input=torch.zeros(2, 3, 4, 4))


def test_a_trial_result_is_taken_as_is() -> None:
    result = TrialResult(small_model(), {}, ["a"], torch.zeros(1, 48))
    assert TrialResult.coerce(result) is result


# -- outside a trial -------------------------------------------------------------------------


def test_outside_a_trial_reports_do_nothing_and_warn_once(monkeypatch) -> None:
    monkeypatch.setattr(reporting, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jupyter_mlops.log(step=1, loss=0.3)
        jupyter_mlops.log_text("hello")
        jupyter_mlops.save_checkpoint({"epoch": 1})
        model = small_model()
        assert jupyter_mlops.watch(model) is model
        assert jupyter_mlops.should_stop() is False
        assert jupyter_mlops.resume_state() is None
    assert len(caught) == 1 and "no trial is running" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller


# -- a plain loop on a worker ----------------------------------------------------------------


def test_a_plain_loop_reports_and_returns_just_its_model(
    fake_hub: FakeHub, worker: Worker, grab: Grab
) -> None:
    trial = assign(fake_hub, 1)
    ended(fake_hub)
    assert [e["trial_id"] for e in fake_hub.of_type("trial_finished")] == [trial]
    metrics = [(e["name"], e["step"]) for e in fake_hub.of_type("metric")]
    assert [m for m in metrics if m[0] == "accuracy"] == [
        ("accuracy", 1),
        ("accuracy", 2),
        ("accuracy", 3),
    ]
    assert [s for n, s in metrics if n == "train_loss"] == list(range(1, 7))
    assert ("test_accuracy", 0) in metrics
    finished = fake_hub.of_type("trial_finished")[0]["metrics"]
    assert set(finished) == {"train_loss", "accuracy", "test_accuracy"}  # the last of each
    assert finished["accuracy"] == finished["test_accuracy"]
    texts = [e["text"] for e in fake_hub.of_type("log") if not e.get("partial")]
    assert "epoch 2 done" in texts and "accuracy" in " ".join(texts)
    bars = [t for t in texts if t.startswith("epoch 1:")]
    assert len(bars) == 1 and "20/20" in bars[0]  # one line per tqdm bar, its final state
    assert any(e.get("partial") for e in fake_hub.of_type("log"))  # and live states meanwhile
    metadata = read_metadata(io.BytesIO(fake_hub.models[trial]))
    assert metadata["classes"] == ["0", "1", "2"]
    assert metadata["input_size"] == [3, 4, 4] and metadata["param_count"] == 48 * 3 + 3
    assert metadata["metrics"]["test_accuracy"] == finished["test_accuracy"]
    # save_checkpoint reached the worker's checkpoint hook after epochs 1, 2 and 3 (which the
    # worker uploads, in the background, is its own business); then the model was uploaded
    assert [state["epoch"] for state in grab.states] == [1, 2, 3]
    assert set(grab.states[0]) == {"epoch", "step", "model", "optimizer"}
    assert fake_hub.requests[-1]["what"] == "model"


def test_a_plain_loop_resumes_from_its_checkpoint(fake_hub: FakeHub, worker: Worker) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    state = {
        "epoch": 2,
        "step": 4,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    fake_hub.checkpoints["2-0"] = (2, buf.getvalue())
    assign(fake_hub, 2, epoch=2)
    ended(fake_hub)
    texts = [e["text"] for e in fake_hub.of_type("log") if not e.get("partial")]
    assert "resuming after epoch 2" in texts
    assert [e["step"] for e in fake_hub.of_type("metric") if e["name"] == "accuracy"] == [3]
    assert fake_hub.of_type("trial_finished")


def test_should_stop_ends_a_plain_loop_when_the_job_is_cancelled(
    fake_hub: FakeHub, worker: Worker
) -> None:
    import threading

    anycode.hold_epoch_2 = threading.Event()
    anycode.holding.clear()
    assign(fake_hub, 3)
    assert anycode.holding.wait(30)
    fake_hub.send({"type": "cancel", "job_id": 3})
    fake_hub.wait_for(lambda: worker.current_run is not None and worker.current_run.stop.is_set())
    anycode.hold_epoch_2.set()
    ended(fake_hub)
    assert fake_hub.of_type("trial_cancelled") and not fake_hub.of_type("trial_finished")
    assert "3-0" not in fake_hub.models


def test_a_model_without_example_input_fails_with_what_to_do(
    fake_hub: FakeHub, worker: Worker
) -> None:
    worker.train_fn = lambda params: small_model()
    assign(fake_hub, 4)
    ended(fake_hub)
    (failed,) = fake_hub.of_type("trial_failed")
    assert failed["error"].startswith("the training function's result cannot be stored: ")
    assert "jupyter_mlops.watch(model)" in failed["error"]

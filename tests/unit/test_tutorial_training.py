"""Tutorial training: run_trial reports through callbacks, stops between batches, exports."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from jupyter_mlops.kernel_client import Callback, CallbackList, TrialCancelled
from jupyter_mlops.modelfile import save_model_file
from jupyter_mlops.tutorial import CifarNet, count_parameters, load_data, run_trial
from tests.support.workers import DEFAULTS, tiny_data_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    return load_data(tiny_data_dir(tmp_path_factory.mktemp("data")), download=False)


class Recorder(Callback):
    def __init__(self) -> None:
        self.batches: list[tuple[int, int, int, float]] = []
        self.epochs: list[tuple[int, dict]] = []

    def on_train_batch_end(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        self.batches.append((epoch, batch, batches, loss))

    def on_epoch_end(self, epoch: int, metrics) -> None:
        self.epochs.append((epoch, dict(metrics)))


def test_the_seed_network_has_the_seed_size() -> None:
    assert count_parameters(CifarNet(3, 20, 128)) == 46558
    assert CifarNet(5, 8, 32)(torch.zeros(4, 3, 16, 16)).shape == (4, 10)
    assert CifarNet(4, 8, 32)(torch.zeros(1, 3, 16, 16)).shape == (1, 10)  # even kernels too


def test_run_trial_reports_every_batch_and_epoch(tiny, capsys) -> None:
    recorder = Recorder()
    result = run_trial(
        {**DEFAULTS, "EPOCHS": 2, "BATCH_SIZE": 20}, CallbackList([recorder]), data=tiny
    )
    assert [b[:3] for b in recorder.batches] == [(e, b, 10) for e in (1, 2) for b in range(1, 11)]
    assert [e for e, _ in recorder.epochs] == [1, 2]
    assert {"train_loss", "test_accuracy", "test_loss"} <= set(recorder.epochs[-1][1])
    metrics = result.metrics
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_loss"] > 0
    assert set(metrics["per_class_accuracy"]) == set(tiny.classes)
    assert result.classes == tiny.classes and result.normalization == tiny.normalization
    assert tuple(result.example_input.shape) == (2, 3, 16, 16)
    assert "epoch 2/2" in capsys.readouterr().out


def test_a_stop_request_ends_the_trial_between_batches(tiny) -> None:
    stop = threading.Event()

    class StopAfterThree(Callback):
        def on_train_batch_end(self, epoch, batch, batches, loss) -> None:
            if batch == 3:
                stop.set()

    recorder = Recorder()
    with pytest.raises(TrialCancelled):
        run_trial(DEFAULTS, CallbackList([recorder, StopAfterThree()], stop_event=stop), data=tiny)
    assert len(recorder.batches) == 3


def test_exported_model_predicts_in_a_process_without_the_class_or_torch(
    tiny, tmp_path: Path
) -> None:
    result = run_trial(DEFAULTS, data=tiny)
    path = tmp_path / "model.zip"
    metadata = save_model_file(
        result.model,
        path,
        example_input=result.example_input,
        classes=result.classes,
        normalization=result.normalization,
        hyperparameters=DEFAULTS,
        metrics=result.metrics,
    )
    expected = result.model.eval()(tiny.test_x[:8]).argmax(1).tolist()
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from jupyter_mlops.modelfile import load_session, read_graph, read_metadata
        session = load_session(read_graph({str(path)!r}, 1 << 30))
        batch = np.load({str(tmp_path / "x.npy")!r})
        scores = session.run(None, {{session.get_inputs()[0].name: batch}})[0]
        print(scores.argmax(1).tolist())
        assert "jupyter_mlops.tutorial" not in sys.modules, "the notebook's class was imported"
        assert "torch" not in sys.modules, "torch was imported to run the model"
        print(read_metadata({str(path)!r})["sha1"])
        """
    )
    np.save(tmp_path / "x.npy", tiny.test_x[:8].numpy())
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split("\n")
    assert out[0] == str(expected)
    assert out[1] == metadata["sha1"]


def test_a_resumed_trial_ends_where_an_uninterrupted_one_does(tiny, tmp_path: Path) -> None:
    params = {**DEFAULTS, "EPOCHS": 3, "BATCH_SIZE": 50}

    class Saver(Recorder):
        def on_checkpoint(self, state) -> None:
            torch.save(dict(state), tmp_path / f"e{state['epoch']}.pt")  # as the worker does

    straight = Saver()
    full = run_trial(params, CallbackList([straight]), data=tiny)
    state = torch.load(tmp_path / "e1.pt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and state["step"] == 4  # 200 images, 50 per batch

    resumed = Recorder()
    result = run_trial(params, CallbackList([resumed], resume_state=state), data=tiny)
    assert [e for e, _ in resumed.epochs] == [2, 3]  # epochs 2..3 only, numbered on
    assert resumed.batches == straight.batches[4:]  # same shuffling, same losses
    for name, tensor in full.model.state_dict().items():
        assert torch.equal(tensor, result.model.state_dict()[name]), name
    assert result.metrics["test_loss"] == full.metrics["test_loss"]

"""What runs on a Ray cluster for one trial: the notebook's training function, unchanged.

:func:`run_trial_task` is the body of a Ray *streaming generator* task (see
:mod:`.ray_executor`). It calls the training function in a thread of the Ray worker process with
a :class:`~.callbacks.CallbackList` whose one callback, :class:`Relay`, turns every hook into an
item; ``jupyter_mlops.log`` and its kin work as on a notebook worker (the trial is active in
that process), and what the function prints is captured line by line. The generator yields the
node it runs on first, then the items in batches (one batch every ``flush_interval`` seconds),
then the outcome: the exported model file's bytes (the ONNX export runs here, on the cluster),
or the error, or that it stopped. The stream is Ray's own ordered queue, tied to the task's
life: when the node dies the notebook's next read says so.

A non-forced ``ray.cancel`` raises ``KeyboardInterrupt`` in the generator: the trial is asked
to stop between batches (as a hub cancel does on a notebook worker).

Everything here crosses Ray's pickling between the notebook and its own cluster (the user's
trust domain); the hub only ever receives the JSON events and the files the notebook sends.
"""

from __future__ import annotations

import io
import queue
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.worker.callbacks import Callback, CallbackList, TrialCancelled
from jupyter_mlops.kernel_client.worker.logtee import LineSink, capture_output
from jupyter_mlops.kernel_client.worker.reporter import as_number, jsonable
from jupyter_mlops.kernel_client.worker.reporting import ActiveTrial, active_trial
from jupyter_mlops.kernel_client.worker.result import TrialResult
from jupyter_mlops.kernel_client.worker.trial import call_training_function

Item = tuple[Any, ...]
#: How long a stopped trial may take to reach its next batch before the task is left to Ray.
STOP_WAIT = 30.0


def node_label(address: str, node_id: str) -> str:
    """How a node is named to the hub: its address and the start of its Ray node id."""
    return f"{address}:{node_id[:8]}"


class Relay(Callback):
    """Turns each training hook into an item for the notebook (numbers made plain; a
    checkpoint saved at once with ``torch.save``, as training goes on changing its tensors)."""

    def __init__(self, put: Callable[[Item], object]) -> None:
        self.put = put
        self.metrics: dict[str, Any] = {}  # the last value of each metric (as HubReporter's)

    def on_train_epoch_start(self, epoch: int, epochs: int) -> None:
        self.put(("hook", "on_train_epoch_start", (int(epoch), int(epochs))))

    def on_train_batch_end(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        self.put(
            ("hook", "on_train_batch_end", (int(epoch), int(batch), int(batches), as_number(loss)))
        )

    def on_train_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            if (number := as_number(value)) is not None:
                self.metrics[name] = number
        self.put(("hook", "on_train_epoch_end", (int(epoch), jsonable(dict(metrics)))))

    def on_metric(self, name: str, value: float, step: int) -> None:
        number = as_number(value)
        if number is not None:
            self.metrics[name] = number
        self.put(("hook", "on_metric", (str(name), number, int(step))))

    def on_test_end(self, metrics: Mapping[str, Any]) -> None:
        self.put(("hook", "on_test_end", (jsonable(dict(metrics)),)))

    def on_checkpoint(self, state: Mapping[str, Any]) -> None:
        import torch

        buffer = io.BytesIO()
        torch.save(dict(state), buffer)
        self.put(("checkpoint", int(state["epoch"]), buffer.getvalue()))


def export_model(
    returned: Any, active: ActiveTrial, relay: Relay, params: Mapping[str, Any], job_id: int
) -> dict[str, Any]:
    """The training function's result as a model file: its bytes, metadata and metrics."""
    result = TrialResult.coerce(returned, example_input=active.example_input, logged=relay.metrics)
    metrics = jsonable(result.metrics)
    with tempfile.TemporaryDirectory(prefix="mlops-ray-") as folder:
        path = Path(folder) / "model.zip"
        metadata = result.save(path, params, active.trial_id, job_id)
        return {"model": path.read_bytes(), "metadata": jsonable(metadata), "metrics": metrics}


def run_trial_task(
    train_fn: Any,
    params: dict[str, Any],
    trial_id: str,
    job_id: int,
    resume_state: dict[str, Any] | None,
    flush_interval: float = 0.25,
) -> Iterator[dict[str, Any]]:
    """The trial on the cluster: yields ``{"node"}``, ``{"items"}`` batches, ``{"outcome"}``."""
    import ray

    items: queue.Queue[Item] = queue.Queue()
    stop = threading.Event()
    relay = Relay(items.put)
    callbacks = CallbackList([relay], stop_event=stop, resume_state=resume_state)

    def line(stream: str, text: str) -> None:
        items.put(("line", stream, text))

    active = ActiveTrial(trial_id, params, callbacks, write=lambda text: line("stdout", text))
    outcome: dict[str, Any] = {}

    def train() -> None:
        sink = LineSink(line)
        stage = "the training function raised"
        try:
            with capture_output(sink), active_trial(active):
                callbacks.on_trial_start(trial_id, params)
                returned = call_training_function(train_fn, params, callbacks)
            if stop.is_set():
                outcome["stopped"] = True
                return
            stage = "the training function's result cannot be stored"
            with capture_output(sink):
                outcome.update(export_model(returned, active, relay, params, job_id))
        except TrialCancelled:
            outcome["stopped"] = True
        except BaseException as exc:  # reported to the notebook, which fails the trial
            outcome["error"] = f"{stage}: {type(exc).__name__}: {exc}"
            outcome["traceback"] = traceback.format_exc()
        finally:
            sink.flush()
            items.put(("done",))

    context = ray.get_runtime_context()
    yield {"node": node_label(ray.util.get_node_ip_address(), context.get_node_id())}
    thread = threading.Thread(target=train, name=f"mlops-trial-{trial_id}", daemon=True)
    thread.start()
    done = False
    try:
        while not done:
            time.sleep(flush_interval)
            batch: list[Item] = []
            while True:
                try:
                    batch.append(items.get_nowait())
                except queue.Empty:
                    break
            done = any(item[0] == "done" for item in batch)
            batch = [item for item in batch if item[0] != "done"]
            if batch:
                yield {"items": batch}
    except KeyboardInterrupt:  # ray.cancel: stop between batches, then end
        stop.set()
        thread.join(STOP_WAIT)
        raise
    yield {"outcome": outcome}

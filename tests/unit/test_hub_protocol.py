"""Every message the hub sends to a worker or publishes to subscribers is declared in messages.py.

One job is driven end to end through the Hub API with fake events (dispatch, events, a
malformed one, model, checkpoint, auto deploy, failure, retry, cancel, rollback, reset);
every ``type`` seen on the worker links and the events feed must be a declared one, and
each declared hub message must show up at least once.
"""

from __future__ import annotations

from collections.abc import Callable

from jupyter_mlops.messages import (
    HUB_TO_WORKER,
    JOB_FAILED,
    SERVING_CHANGED,
    SUBSCRIBER_TYPES,
    TRIAL_FAILED,
)
from jupyter_mlops.serverext.hub import Hub
from jupyter_mlops.serverext.store import Store
from tests.unit.conftest import ScriptedWorker, Subscriber, model_metadata, sha256_of


def test_every_type_the_hub_sends_or_publishes_is_declared(
    mlops_hub: Hub,
    mlops_store: Store,
    mlops_worker: Callable[..., ScriptedWorker],
    mlops_subscriber: Subscriber,
) -> None:
    a = mlops_worker("a")
    job = mlops_hub.launch("any", {"LR": [0.1, 0.2]})
    (first,) = a.assignments()

    lease = (first["attempt"], first["lease"])
    trial, _ = mlops_store.set_checkpoint(first["id"], *lease, 1, sha256_of("ckpt"))
    mlops_hub.checkpoint_stored(trial, None)
    a.send({"seq": 0, "type": "not-an-event"})  # skipped and reported with an error
    model, created = mlops_store.add_model(
        first["id"], sha256_of("model"), 100, model_metadata(test_accuracy=0.8), *lease
    )
    assert created
    mlops_hub.model_stored(model)
    assert mlops_store.current_deployment()["model_id"] == first["id"]  # type: ignore[index]
    a.run(first, accuracy=0.8)

    second = a.assignments()[-1]
    a.send(a.event(TRIAL_FAILED, second, error="boom"), a.event(JOB_FAILED, job_id=job["id"]))
    assert mlops_store.get_job(job["id"])["retryable"] is True
    mlops_hub.retry(job["id"])
    mlops_hub.cancel(job["id"])
    mlops_hub.deploy(first["id"])
    mlops_hub.clear_models()

    sent = {m["type"] for m in a.link.sent}
    published = {m["type"] for m in mlops_subscriber.messages}
    assert sent <= set(HUB_TO_WORKER), sent - set(HUB_TO_WORKER)
    assert published <= set(SUBSCRIBER_TYPES), published - set(SUBSCRIBER_TYPES)
    assert sent == set(HUB_TO_WORKER)  # the drive above covers every hub -> worker message
    # "serving" comes from the model server, not the hub (tests/server/test_predict.py)
    assert published == set(SUBSCRIBER_TYPES) - {SERVING_CHANGED}

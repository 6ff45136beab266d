"""NaN and infinities never reach a view as bare JSON literals.

Every message and REST answer is encoded by ``messages.encode`` and every worker frame, REST
body and model metadata parsed by ``messages.decode``: a non-finite number is the text
``"NaN"``, ``"Infinity"`` or ``"-Infinity"``. Before, a diverged loss went out as bare ``NaN``,
which ``JSON.parse`` refuses: the JupyterLab panel showed only "Could not load the MLOps state".
"""

from __future__ import annotations

import json
import math

import pytest

from jupyter_mlops.kernel_client.worker.link import event_frames, fit_event
from jupyter_mlops.kernel_client.worker.reporter import jsonable
from jupyter_mlops.messages import decode, encode, finite_or_text, nesting_depth
from jupyter_mlops.serverext.deployment import DeploymentPolicy
from jupyter_mlops.serverext.store import Store
from tests.unit.test_store import job_with_models


def strict(text: str) -> object:
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in {text[:80]}"))


def test_encode_spells_non_finite_numbers_as_text() -> None:
    message = {"loss": math.nan, "list": [math.inf, -math.inf, 1.5], "deep": {"x": (math.nan,)}}
    assert strict(encode(message)) == {
        "loss": "NaN",
        "list": ["Infinity", "-Infinity", 1.5],
        "deep": {"x": ["NaN"]},
    }
    assert encode({"a": 1.0, "b": "x"}) == '{"a":1.0,"b":"x"}'  # the plain path, unchanged
    assert finite_or_text(0.25) == 0.25


def test_decode_reads_literals_and_overflows_as_text_and_refuses_deep_nesting() -> None:
    assert decode('{"a": NaN, "b": [Infinity, -Infinity, 1e999, -1e999, 2.5]}') == {
        "a": "NaN",
        "b": ["Infinity", "-Infinity", "Infinity", "-Infinity", 2.5],
    }
    with pytest.raises(ValueError, match="nested too deeply"):
        decode("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError):
        decode("9" * 4301)  # Python's limit on int digits: a ValueError, never a crash
    assert nesting_depth({"a": [[1]]}, 10) == 3
    assert nesting_depth(json.loads("[" * 50 + "]" * 50), 8) == 9  # stops counting past 8


def test_the_worker_sends_nan_metrics_and_defaults_as_text() -> None:
    import numpy as np

    sent = jsonable({"loss": float("nan"), "acc": np.float32("inf"), "ok": [1.0, np.nan]})
    assert sent == {"loss": "NaN", "acc": "Infinity", "ok": [1.0, "NaN"]}
    assert strict(encode(sent)) == sent


def test_a_diverged_model_is_never_auto_deployed_and_does_not_block_the_next(
    mlops_store: Store,
) -> None:
    diverged, good = job_with_models(mlops_store, math.nan, 0.4)
    decision, deployment = mlops_store.judge_and_deploy(diverged, DeploymentPolicy().auto_judge)
    assert deployment is None and "has no finite test_accuracy" in decision["reason"]
    assert strict(encode(decision))["value"] is None  # the decision is JSON-safe too
    assert mlops_store.judge_and_deploy(good, DeploymentPolicy().auto_judge)[1] is not None


def test_frames_stay_under_the_limit_and_keep_every_event_in_order() -> None:
    events = [(seq, encode({"seq": seq, "type": "log", "text": "x" * 300})) for seq in range(1, 40)]
    frames = list(event_frames(events, limit=2000))
    assert len(frames) > 1 and all(len(frame) <= 2000 for frame, _ in frames)
    carried = [e["seq"] for frame, _ in frames for e in strict(frame)["events"]]  # type: ignore[index]
    assert carried == list(range(1, 40))
    assert [last for _, last in frames][-1] == 39


def test_an_event_too_large_for_a_frame_is_cut_never_dropped() -> None:
    line = encode({"seq": 7, "type": "log", "job_id": 1, "trial_id": "1-0", "text": "y" * 10_000})
    cut = strict(fit_event(line, 1000))
    assert cut["seq"] == 7 and cut["trial_id"] == "1-0"  # type: ignore[index]
    assert "cut to fit a frame: 10000 characters" in cut["text"]  # type: ignore[index]
    huge = encode({"seq": 8, "type": "trial_finished", "job_id": 1, "trial_id": "1-0",
                   "metrics": {f"m{i}": i for i in range(500)}})  # fmt: skip
    kept = strict(fit_event(huge, 300))
    assert kept["type"] == "trial_finished" and "too large" in kept["error"]  # type: ignore[index]
    assert len(fit_event(huge, 300)) <= 300

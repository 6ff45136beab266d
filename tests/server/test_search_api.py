"""Searches over REST (in-process server): validation shows the budget and names bad ranges,
a search job starts with one trial asked, ``GET /jobs/{id}/search`` sums it up."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from tests.support.api import call

SEARCH = {
    "EPOCHS": 2,
    "LR": {"low": 0.0001, "high": 0.1, "log": True},
    "K": [3, 5],
    "search": {"method": "tpe", "budget": 12, "seed": 1, "pruner": "median"},
}


async def test_validation_shows_the_budget_as_the_trial_count(jp_fetch: Any) -> None:
    status, result = await call(jp_fetch, "POST", "grid/validate", {"conf": SEARCH})
    assert status == 200 and result["valid"], result
    assert result["trial_count"] == 12 and result["trials"] == []
    assert result["space"] == {
        "LR": {"low": 0.0001, "high": 0.1, "log": True},
        "K": {"choices": [3, 5]},
    }
    assert result["search"]["pruner"] == {"type": "median", "startup_trials": 3,
                                          "warmup_epochs": 0}  # fmt: skip


async def test_validation_names_a_bad_range(jp_fetch: Any) -> None:
    conf = {**SEARCH, "LR": {"low": 0, "high": 0.1, "log": True}}
    status, result = await call(jp_fetch, "POST", "grid/validate", {"conf": conf})
    assert status == 200 and not result["valid"]
    assert result["errors"] == [{"key": "LR", "message": "LR: a log range needs low > 0, got 0"}]
    status, refused = await call(jp_fetch, "POST", "jobs", {"conf": conf})
    assert status == 400 and refused["detail"]["errors"] == result["errors"]


async def test_a_search_job_asks_its_trials_as_there_is_room(
    jp_fetch: Any, mlops_root: Path
) -> None:
    status, job = await call(jp_fetch, "POST", "jobs", {"conf": SEARCH})
    assert status == 201, job
    assert job["status"] == "queued" and job["trial_count"] == 12
    assert job["search"]["method"] == "tpe" and job["conf"]["LR"]["log"] is True
    (trial,) = job["trials"]  # no worker connected: one trial asked, waiting for one
    assert trial["id"] == f"{job['id']}-0" and trial["search_number"] == 0
    assert set(trial["params"]) == {"EPOCHS", "LR", "K"} and trial["params"]["EPOCHS"] == 2
    journal = mlops_root / "searches.log"
    assert journal.is_file() and stat.S_IMODE(journal.stat().st_mode) == 0o600

    status, summary = await call(jp_fetch, "GET", f"jobs/{job['id']}/search")
    assert status == 200
    assert summary == {
        "job_id": job["id"],
        "search": {"method": "tpe", "budget": 12, "metric": "test_accuracy",
                   "direction": "maximize", "parallel": None, "seed": 1,
                   "pruner": {"type": "median", "startup_trials": 3, "warmup_epochs": 0}},
        "best": None,
        "importance": {},
    }  # fmt: skip

    status, cancelled = await call(jp_fetch, "POST", f"jobs/{job['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled"


async def test_a_grid_job_has_a_grid_summary(jp_fetch: Any) -> None:
    status, job = await call(jp_fetch, "POST", "jobs", {"conf": {"LR": [0.1, 0.2]}})
    assert status == 201 and job["search"] is None and job["trial_count"] == 2
    status, summary = await call(jp_fetch, "GET", f"jobs/{job['id']}/search")
    assert status == 200
    assert summary["search"]["method"] == "grid" and summary["search"]["budget"] is None
    assert summary["best"] is None and summary["importance"] == {}

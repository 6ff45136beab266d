"""The hub's searches: random and TPE jobs ask their study for trials as there is room, tell
it every result, and stop the trials its pruner prunes.

A search job starts with no trial. Whenever the hub dispatches, each open search asks its
study for new trials while fewer than its budget were asked and fewer than ``parallel`` (by
default the connected workers that accept it, at least one) are pending or running; each is
recorded (``<job>-<number>``) and leased exactly like a grid's trial. Points of the search's
metric feed the pruner; a trial it prunes ends ``pruned`` at once (its worker gets a
``cancel`` with the reason) and stores no model. Every ended trial is told to the study
(finished with its metric's value, pruned, or failed). After a restart the studies are
reloaded from their journal and trials asked but never recorded are failed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.messages import CANCEL
from jupyter_mlops.search_space import SearchSpec, space_from_json
from jupyter_mlops.serverext.feed import Message
from jupyter_mlops.serverext.hub.base import HubBase
from jupyter_mlops.serverext.search import FAILED, FINISHED, PRUNED, prune_reason
from jupyter_mlops.serverext.store.jobs import TRIAL_ENDED


@dataclass(frozen=True)
class Search:
    """A random or TPE job's search, as stored with it."""

    job_id: int
    spec: SearchSpec
    space: dict[str, Any]
    fixed: dict[str, Any]
    study: str


def _outcome(status: str) -> str:
    return {"finished": FINISHED, "pruned": PRUNED}.get(status, FAILED)


class SearchJobs(HubBase):
    """Trials asked from studies, results told to them, trials their pruners stop."""

    def _search(self, job_id: int, stored: Message | None = None) -> Search | None:
        """The job's search (None for a grid), read once."""
        if job_id not in self._search_cache:
            raw = stored if stored is not None else self.store.job_search(job_id)
            spec = SearchSpec.from_json(raw["spec"]) if raw else None
            self._search_cache[job_id] = (
                Search(job_id, spec, space_from_json(raw["space"]), raw["fixed"], raw["study"])
                if raw and spec is not None and spec.samples
                else None
            )
        return self._search_cache[job_id]

    def _connected_for(self, job_id: int) -> int:
        """How many connected workers (not stopping) accept the job."""
        return sum(
            1
            for worker_id in self.store.accepting_workers(job_id)
            if worker_id in self.links and worker_id not in self._draining
        )

    def _fill_searches(self) -> None:
        for row in self.store.search_jobs(open_only=True):
            search = self._search(row["id"], row["search"])
            if search is None:
                continue
            room = row["budget"] - row["asked"]
            limit = search.spec.parallel or max(1, self._connected_for(row["id"]))
            asked: list[str] = []
            for _ in range(min(room, limit - row["active"])):
                number, params = self.searches.ask(search.study, search.spec, search.space)
                try:
                    trial = self.store.add_search_trial(
                        search.job_id, number, {**search.fixed, **params}
                    )
                except Exception:
                    self.searches.tell(search.study, search.spec, number, FAILED, None)
                    raise
                asked.append(trial["id"])
            if asked:
                self.log.debug("search %s asked trials %s", search.job_id, asked)
                self._publish_job(search.job_id, asked)

    def _search_events(
        self, job_ids: Iterable[int], reports: Iterable[tuple[int, str, int, float]]
    ) -> bool:
        changed = set(job_ids)
        pruned = False
        for job_id, trial_id, step, value in reports:
            search = self._search(job_id)
            if search is None:
                continue
            number = int(trial_id.rsplit("-", 1)[1])
            if self.searches.report(search.study, search.spec, number, step, value):
                reason = prune_reason(search.spec, step, value)
                if self._prune(job_id, trial_id, reason, step):
                    pruned = True
                    changed.add(job_id)
        self._sync_searches(changed)
        return pruned

    def _prune(self, job_id: int, trial_id: str, reason: str, epoch: int) -> bool:
        """Stop a trial the pruner pruned at ``epoch`` (the cancel path, with the reason)."""
        trial = self.store.prune_trial(trial_id, reason, epoch)
        if trial is None:
            return False  # it ended meanwhile, or its model is stored: its result stands
        worker_id = trial.get("worker_id")
        link = self.links.get(worker_id) if worker_id is not None else None
        cancel = {"type": CANCEL, "job_id": job_id, "trial_id": trial_id, "reason": reason}
        if link is not None:
            link.send(cancel)
        elif worker_id is not None:  # told when it comes back
            self._lost.setdefault(worker_id, []).append((job_id, trial_id))
        self._publish_job(job_id, [trial_id])
        if worker_id is not None:
            self._publish_worker(worker_id)
        return True

    def _sync_searches(self, job_ids: Iterable[int]) -> None:
        for job_id in set(job_ids):
            search = self._search(job_id)
            if search is None:
                continue
            running = self.searches.running(search.study, search.spec)
            if not running:
                continue
            for trial in self.store.get_job(job_id)["trials"]:
                if trial["index"] in running and trial["status"] in TRIAL_ENDED:
                    metrics = trial.get("metrics")
                    value = metrics.get(search.spec.metric) if isinstance(metrics, dict) else None
                    self.searches.tell(
                        search.study, search.spec, trial["index"], _outcome(trial["status"]), value
                    )

    def _resume_searches(self) -> None:
        loose = self.searches.studies_with_running_trials()
        if not loose:
            return
        for row in self.store.search_jobs(open_only=False):
            search = self._search(row["id"], row["search"])
            if search is None or search.study not in loose:
                continue
            recorded = {t["index"] for t in self.store.get_job(search.job_id)["trials"]}
            lost = self.searches.fail_unrecorded(search.study, search.spec, recorded)
            if lost:
                self.log.warning(
                    "search %s: trial number(s) %s were asked but never recorded (the hub "
                    "stopped in between); the study counts them failed",
                    search.job_id,
                    lost,
                )
            self._sync_searches([search.job_id])

    def search_summary(self, job_id: int) -> Message:
        """``GET /jobs/{id}/search``: the search's settings, its best trial so far and the
        parameter importances (a grid: its metric and direction, importances {})."""
        job = self.store.get_job(job_id)
        raw = self.store.job_search(job_id)
        if raw:
            spec = SearchSpec.from_json(raw["spec"])
        else:  # a grid launched without a search section is judged as auto-deploy judges
            direction = "maximize" if self.policy.higher_is_better else "minimize"
            spec = SearchSpec(metric=self.policy.metric, direction=direction)
        best: Message | None = None
        for trial in job["trials"]:
            metrics = trial.get("metrics")
            value = metrics.get(spec.metric) if isinstance(metrics, dict) else None
            if trial["status"] != "finished" or value is None or not _finite(value):
                continue
            if best is None or (
                value < best["value"] if spec.direction == "minimize" else value > best["value"]
            ):
                best = {"trial_id": trial["id"], "value": float(value)}
        search = self._search(job_id, raw)
        importance = self.searches.importance(search.study, spec) if search else {}
        settings = spec.to_json()
        return {"job_id": job_id, "search": settings, "best": best, "importance": importance}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

"""The hub's workers: links, hello/welcome, events, presence, grace periods, credentials."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jupyter_mlops.messages import ACK, CANCEL, ERROR, WELCOME, nesting_depth
from jupyter_mlops.serverext.errors import InvalidInput
from jupyter_mlops.serverext.feed import Message
from jupyter_mlops.serverext.hub.base import HubBase, Link
from jupyter_mlops.serverext.store.api import Lease
from jupyter_mlops.serverext.store.events import capacity_problem


class WorkerLinks(HubBase):
    """Workers come, report and go; leases wait out a grace period."""

    def connect_worker(self, link: Link, hello: Message, token_id: int | None = None) -> int:
        """Register a worker from its ``hello``; send ``welcome``; return its id.

        ``token_id`` is the scoped token the link was opened with (None: the Jupyter
        credential); the worker stays bound to it (see ``MLOpsStore.register_worker``).
        """
        problems = [key for key in ("name", "session") if not _nonempty_str(hello.get(key))]
        problems += hello_problems(hello)
        if problems:
            raise InvalidInput(f"hello needs {', '.join(problems)} (see docs/API.md)")
        worker, dropped = self.store.register_worker(
            name=hello["name"].strip(),
            session=hello["session"],
            notebook=str(hello.get("notebook") or ""),
            defaults=hello.get("defaults") or {},
            device=str(hello.get("device") or "cpu"),
            versions=hello.get("versions") or {},
            token_id=token_id,
            capacity=hello.get("capacity") or 1,
            cluster=hello.get("cluster"),
        )
        worker_id = worker["id"]
        previous = self.links.get(worker_id)
        self.links[worker_id] = link
        if previous is not None and previous is not link:
            previous.close()  # the same worker came back before its old link was seen to close
        self._draining.discard(worker_id)
        timer = self._grace.pop(worker_id, None)
        if timer is not None:
            timer.cancel()
        link.send(
            {
                "type": WELCOME,
                "worker_id": worker_id,
                "name": worker["name"],
                "last_seq": worker["last_seq"],
            }
        )
        for job_id, trial_id in self._lost.pop(worker_id, []):
            link.send({"type": CANCEL, "job_id": job_id, "trial_id": trial_id})
        self._publish_worker(worker_id)
        for job_id, trial_ids in _by_job(dropped).items():
            self._publish_job(job_id, trial_ids)
        self._sync_searches(_by_job(dropped))
        # a cancel sent while it was online may have been lost with the old link: say it again
        # for every trial it holds of a job being cancelled (a cluster worker holds several)
        held = [(_job_of(trial_id), trial_id) for trial_id, _ in self.store.held_trials(worker_id)]
        for job_id, trial_ids in _by_job(held).items():
            if self.store.get_job(job_id, trials=False)["cancel_requested"]:
                for trial_id in trial_ids:
                    link.send({"type": CANCEL, "job_id": job_id, "trial_id": trial_id})
        self._note_stale(worker_id, worker["last_seq"], hello)
        self.dispatch_all()
        return worker_id

    def _note_stale(self, worker_id: int, last_seq: int, hello: Message) -> None:
        """Leases the store gives this worker but its hello does not claim (``running``) are
        not running anywhere: release them once its events up to the hello's ``seq`` (a trial
        that ended before the hello) are stored. A hello without ``running`` claims all."""
        running, seq = hello.get("running"), hello.get("seq")
        if not isinstance(running, list) or type(seq) is not int:
            return
        claimed = {
            (r["trial_id"], r["attempt"])
            for r in running
            if isinstance(r, dict)
            and isinstance(r.get("trial_id"), str)
            and type(r.get("attempt")) is int
        }
        stale = {lease for lease in self.store.held_trials(worker_id) if lease not in claimed}
        if stale:
            self._stale[worker_id] = (seq, stale)
            self._release_stale(worker_id, last_seq)
        else:
            self._stale.pop(worker_id, None)

    def _release_stale(self, worker_id: int, stored_seq: int) -> bool:
        """Release the worker's unclaimed leases once its events up to the hello's seq are
        stored; return whether it released any."""
        pending = self._stale.get(worker_id)
        if pending is None or stored_seq < pending[0]:
            return False
        del self._stale[worker_id]
        held = set(self.store.held_trials(worker_id))
        if not held & pending[1] or held - pending[1]:
            return False  # they ended meanwhile, or the worker holds a newer lease
        leases = self.store.release_worker_trials(
            worker_id,
            "its worker came back without it (the worker's kernel restarted, or the "
            "assignment was lost on the way)",
        )
        if leases:
            self._released(worker_id, leases)
        return bool(leases)

    def worker_events(self, worker_id: int, link: Link, events: list[Any]) -> None:
        """Persist a batch of events, ack it, notify subscribers, hand out the next trial."""
        if self._stopped:
            return  # not acked: the worker resends after the restart
        applied = self.store.apply_events(worker_id, events, notify=bool(self.feed))
        link.send({"type": ACK, "seq": applied.last_seq})
        if applied.problems:  # skipped yet acked, so never resent: tell the worker why
            link.send(
                {
                    "type": ERROR,
                    "error": "malformed events were skipped",
                    "detail": applied.problems,
                }
            )
        for message in applied.notifications:
            self.publish(message)
        self._release_stale(worker_id, applied.last_seq)
        if applied.handed_back:
            self._draining.add(worker_id)  # it is stopping: offer it nothing until it returns
        pruned = self._search_events(applied.jobs_changed, applied.reports)
        if applied.jobs_changed:
            self._drop_finished_checkpoints()
        if (applied.idle and (applied.jobs_changed or applied.capacity_changed)) or pruned:
            self._publish_worker(worker_id)
            self.dispatch_all()
        elif applied.capacity_changed:  # its cluster changed: the panels show it
            self._publish_worker(worker_id)

    def disconnect_worker(self, worker_id: int, link: Link) -> None:
        """The link closed: offline now; its lease waits out the grace period."""
        if self._stopped or self.links.get(worker_id) is not link:
            return  # a newer link replaced this one
        del self.links[worker_id]
        self._stale.pop(worker_id, None)  # its next hello says again what it runs
        worker = self.store.set_worker_offline(worker_id)
        self.feed.worker(worker)
        if worker["current_trial"] is not None:
            self._start_grace(worker_id)

    def _start_grace(self, worker_id: int, seconds: float | None = None) -> None:
        if worker_id in self._grace:
            return
        self._grace[worker_id] = self.schedule(
            self.grace_seconds if seconds is None else seconds,
            lambda: self._grace_expired(worker_id),
        )

    def _grace_expired(self, worker_id: int) -> None:
        """The worker stayed away: its trials go back to pending for another worker."""
        self._grace.pop(worker_id, None)
        if worker_id in self.links:
            return
        worker = self.store.get_worker(worker_id)
        reason = (
            f"worker {worker['name']} went offline at {worker['last_seen']} and did "
            f"not come back within {self.grace_seconds:g} s"
        )
        leases = self.store.release_worker_trials(worker_id, reason)
        if not leases:
            return
        self._lost[worker_id] = leases
        self._released(worker_id, leases)

    def _released(self, worker_id: int, leases: list[Lease]) -> None:
        """A worker's trials were re-queued (or finished, their model stored): tell everyone
        and hand them out."""
        self._drop_finished_checkpoints()
        for job_id, trial_ids in _by_job(leases).items():
            self._publish_job(job_id, trial_ids)
        self._sync_searches(_by_job(leases))  # one whose model was stored ended finished
        self._publish_worker(worker_id)
        self.dispatch_all()

    def forget_worker(self, worker_id: int) -> Message:
        """Forget an offline worker (REST ``DELETE /workers/{id}``); subscribers are told with
        a ``worker`` message whose worker has ``forgotten: true``."""
        worker, leases = self.store.forget_worker(worker_id)
        self._lost.pop(worker_id, None)
        self._draining.discard(worker_id)
        timer = self._grace.pop(worker_id, None)
        if timer is not None:
            timer.cancel()
        self.feed.worker(worker)
        if leases:
            self._released(worker_id, leases)
        return worker

    def revoke_token(self, token_id: int) -> Message:
        """Revoke a scoped token: the links of its workers close now and their trials go back
        to the queue at once (no grace period: the credential is gone, not the network)."""
        token, worker_ids = self.store.revoke_token(token_id)
        for worker_id in worker_ids:
            link = self.links.pop(worker_id, None)
            timer = self._grace.pop(worker_id, None)
            if timer is not None:
                timer.cancel()
            self._draining.discard(worker_id)
            leases = self.store.release_worker_trials(
                worker_id, f"the token {token['name']!r} of its worker was revoked"
            )
            self.feed.worker(self.store.set_worker_offline(worker_id))
            if link is not None:
                link.close()
            if leases:
                self._released(worker_id, leases)
        return token


MAX_HELLO_TEXT = 1000  # a worker's name, notebook and device are shown in every view
MAX_HELLO_DEPTH = 4  # defaults are names to values; versions are names to strings


def hello_problems(hello: Message) -> list[str]:
    """The keys of a ``hello`` whose values the hub cannot store or show (besides its ids)."""
    problems = [
        f"{key} (a string of at most {MAX_HELLO_TEXT} characters)"
        for key in ("name", "notebook", "device")
        if hello.get(key) is not None
        and not (isinstance(hello[key], str) and len(hello[key]) <= MAX_HELLO_TEXT)
    ]
    for key in ("defaults", "versions"):
        value = hello.get(key, {})
        if value is not None and not (
            isinstance(value, dict) and nesting_depth(value, MAX_HELLO_DEPTH) <= MAX_HELLO_DEPTH
        ):
            problems.append(f"{key} (an object nested at most {MAX_HELLO_DEPTH} deep)")
    problem = capacity_problem(hello)
    if problem is not None:
        problems.append(problem)
    return problems


def _job_of(trial_id: str) -> int:
    """The job of a trial id (``<job>-<index>``)."""
    return int(trial_id.rsplit("-", 1)[0])


def _by_job(leases: Iterable[Lease]) -> dict[int, list[str]]:
    """(job, trial) pairs grouped by job."""
    grouped: dict[int, list[str]] = {}
    for job_id, trial_id in leases:
        grouped.setdefault(job_id, []).append(trial_id)
    return grouped


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())

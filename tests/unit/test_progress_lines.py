"""Lines rewritten with ``\\r`` (tqdm bars): stored once in their final state, live meanwhile.

Before, a tqdm bar in a trial became one 51,890-character log line, sent only at the end.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tqdm import tqdm

from jupyter_mlops.kernel_client.worker import logtee
from jupyter_mlops.kernel_client.worker.logtee import (
    JobLog,
    LineSink,
    capture_output,
    final_state,
    latest_state,
    read_log_file,
)
from jupyter_mlops.messages import LOG, LOG_LINES
from jupyter_mlops.serverext.hub import Hub
from tests.support.waiting import wait_until
from tests.unit.conftest import ScriptedWorker, Subscriber


class Clock:
    """``time.monotonic`` for the sink, moved by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(logtee, "time", fake)
    return fake


def run_in_thread(target: Callable[[], Any]) -> None:
    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()


def test_states_of_a_rewritten_line() -> None:
    assert latest_state("\r 10%\r 20%") == " 20%"
    assert latest_state("50%\r") == "50%"
    assert final_state("\r 10%|#   |\r100%|####|   ") == "100%|####|"
    assert final_state("a plain line\r") == "a plain line"  # CR LF
    assert final_state("  indented  ") == "  indented  "  # a plain line is kept as written


def test_a_tqdm_loop_is_one_readable_line_and_live_meanwhile(tmp_path: Path, clock: Clock) -> None:
    stored: list[tuple[str, str]] = []
    live: list[tuple[str, str | None, str]] = []
    log = JobLog(
        tmp_path / "logs" / "1.log",
        lambda stream, trial, text, when: stored.append((stream, text)),
        lambda stream, trial, text, when: live.append((stream, trial, text)),
    )
    log.trial_id = "1-0"
    log.sink.live_interval = 3600.0  # the clock stands still: only the first state goes now

    def trial() -> None:
        with capture_output(log.sink):
            print("before the loop")
            for _ in tqdm(range(2000), desc="train", mininterval=0, miniters=1):
                pass
            print("after the loop")

    run_in_thread(trial)
    log.close()
    texts = [text for _, text in stored]
    assert texts[0] == "before the loop" and texts[-1] == "after the loop"
    (bar,) = texts[1:-1]  # one line, its final state, not 2,000 states in one line
    assert bar.startswith("train: 100%|") and "2000/2000" in bar
    assert "\r" not in bar and len(bar) < 200
    assert stored[1][0] == "stderr"
    on_disk = [r["text"] for r in read_log_file(log.path)]
    assert on_disk == texts
    # live: the bar's first state at once (the next ones wait for the interval), one line each
    assert live and live[0][:2] == ("stderr", "1-0") and live[0][2].startswith("train:")
    assert all("\r" not in text and "\n" not in text for _, _, text in live)


def test_live_states_are_sent_at_a_bounded_rate(clock: Clock) -> None:
    stored: list[str] = []
    live: list[str] = []
    sink = LineSink(lambda s, t: stored.append(t), lambda s, t: live.append(t), live_interval=1.0)
    for i, at in enumerate([0.0, 0.3, 0.6, 1.0, 1.5, 2.2]):
        clock.now = 100.0 + at
        sink.write("stderr", f"\rstep {i}")
    # at 0.0, 1.0 and 2.2 (1.2 s after the last one sent); the others wait for a later one
    assert live == ["step 0", "step 3", "step 5"]
    sink.write("stderr", "\rstep 5")  # unchanged: nothing to send
    assert live == ["step 0", "step 3", "step 5"] and not stored
    sink.write("stderr", "\n")
    assert stored == ["step 5"]


def test_the_latest_state_follows_when_the_bar_stops_changing() -> None:
    live: list[str] = []
    got = threading.Event()
    sink = LineSink(lambda s, t: None, lambda s, t: (live.append(t), got.set()), live_interval=0.05)
    sink.write("stderr", "\r 1/2")
    sink.write("stderr", "\r 2/2")  # too soon after the first, unless the machine is slow
    wait_until(lambda: live == [" 1/2", " 2/2"], timeout=10)
    sink.flush()


def test_a_bar_left_blank_is_not_stored() -> None:
    stored: list[str] = []
    sink = LineSink(lambda s, t: stored.append(t))
    sink.write("stderr", "\r 50%|##  |\r" + " " * 20 + "\r")  # tqdm(leave=False) clears itself
    sink.flush()
    assert stored == []
    sink.write("stdout", "no newline")
    sink.flush()
    assert stored == ["no newline"]


def test_the_hub_shows_live_states_and_stores_only_lines(
    mlops_hub: Hub,
    mlops_subscriber: Subscriber,
    mlops_worker: Callable[..., ScriptedWorker],
) -> None:
    mlops_hub.launch("any", {"SEED": [0]})
    worker = mlops_worker("w", {"SEED": 0})
    trial = worker.assignments()[0]
    job_id = int(trial["id"].split("-")[0])
    mlops_subscriber.messages.clear()
    worker.send(worker.event(LOG, trial, stream="stderr", text=" 10%|#", partial=True))
    (message,) = mlops_subscriber.of_type(LOG_LINES)
    assert message["lines"] == []
    assert [(s["trial_id"], s["stream"], s["text"]) for s in message["live"]] == [
        (trial["id"], "stderr", " 10%|#")
    ]
    worker.send(
        worker.event(LOG, trial, stream="stderr", text=" 50%|#####", partial=True),
        worker.event(LOG, trial, stream="stderr", text="100%|##########"),
    )
    last = mlops_subscriber.of_type(LOG_LINES)[-1]
    assert [line["text"] for line in last["lines"]] == ["100%|##########"]
    assert "live" not in last  # the line ended in the same batch
    stored = [row["text"] for row in mlops_hub.store.job_logs(job_id)]
    assert " 10%|#" not in stored and " 50%|#####" not in stored
    assert "100%|##########" in stored


def test_output_of_other_threads_keeps_its_carriage_returns(capsys) -> None:
    sys.stdout.write("\ra notebook's own bar")
    assert capsys.readouterr().out == "\ra notebook's own bar"

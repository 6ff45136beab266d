"""The log tee: a worker thread's prints go to the job log; other threads' output is untouched."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from jupyter_mlops.kernel_client.worker.logtee import (
    JobLog,
    LineSink,
    capture_output,
    read_log_file,
)


def test_only_the_capturing_thread_is_captured(tmp_path: Path, capsys) -> None:
    reported: list[tuple[str, str | None, str]] = []
    log = JobLog(tmp_path / "logs" / "7.log", lambda s, t, x, when: reported.append((s, t, x)))
    log.trial_id = "7-0"
    in_thread = threading.Event()
    go_on = threading.Event()

    def trial() -> None:
        with capture_output(log.sink):
            print("epoch 1 loss 0.5")
            print("partial", end="")
            print(" line")
            print("to stderr", file=sys.stderr)
            in_thread.set()
            go_on.wait(5)
            sys.stdout.write("no newline at the end")

    worker = threading.Thread(target=trial)
    worker.start()
    in_thread.wait(5)
    print("a notebook cell printing meanwhile")
    go_on.set()
    worker.join(5)
    log.system("trial 7-0 finished")
    log.close()
    out = capsys.readouterr().out
    assert "a notebook cell printing meanwhile" in out
    assert "epoch 1" not in out
    expected = [
        ("stdout", "7-0", "epoch 1 loss 0.5"),
        ("stdout", "7-0", "partial line"),
        ("stderr", "7-0", "to stderr"),
        ("stdout", "7-0", "no newline at the end"),
        ("system", "7-0", "trial 7-0 finished"),
    ]
    assert reported == expected
    on_disk = [(r["stream"], r["trial_id"], r["text"]) for r in read_log_file(log.path)]
    assert on_disk == expected


def test_echo_also_writes_to_the_original_stream(capsys) -> None:
    got: list[str] = []
    with capture_output(LineSink(lambda s, t: got.append(t)), echo=True):
        print("shown and logged")
    assert got == ["shown and logged"]
    assert "shown and logged" in capsys.readouterr().out

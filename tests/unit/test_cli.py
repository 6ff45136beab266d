"""The command line without a hub: help on every command, what it prints, the examples."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.cli import main, parser, show
from jupyter_mlops.cli.notebook import status_line
from jupyter_mlops.cli.start import EXAMPLES, copy_examples, examples_dir
from jupyter_mlops.records import job

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [
    "start", "examples", "demo", "workers", "launch", "jobs", "job", "cancel", "retry", "logs",
    "models", "deploy", "pull", "tokens", "worker", "check",
]  # fmt: skip


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    choices = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert sorted(choices) == sorted(COMMANDS)
    for command in COMMANDS:
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith(f"usage: jupyter mlops {command}"), text
    assert main([]) == 2
    assert "jupyter mlops launch sample_conf.json" in capsys.readouterr().out


def test_tables_align_and_show_times_and_missing_values() -> None:
    out = io.StringIO()
    show.table(
        ["ID", "WHEN", "VALUE"],
        [[1, "2026-12-01T18:25:51.203+00:00", None], [12, None, 0.123456]],
        out=out,
    )
    assert out.getvalue().splitlines() == [
        "ID  WHEN                 VALUE",
        "1   2026-12-01 18:25:51  -",
        "12  -                    0.1235",
    ]
    assert show.cell(True) == "yes" and show.cell(["a", "b"]) == "a,b"
    assert show.size(2214) == "2.2 kB" and show.size(12) == "12 B"
    assert show.bar(0.5, 10) == "[#####-----]"


def test_a_job_line_names_the_running_trial() -> None:
    running = job(
        {
            "id": 7, "status": "running", "trial_count": 2, "trials_done": 1, "progress": 0.5,
            "trials": [
                {"id": "7-0", "job_id": 7, "index": 0, "status": "finished"},
                {"id": "7-1", "job_id": 7, "index": 1, "status": "running", "epoch": 2,
                 "epochs": 3, "batch": 10, "batches": 50, "worker_name": "w",
                 "metrics": {"train_loss": 0.25}},
            ],
        }
    )  # fmt: skip
    assert show.job_line(running) == (
        "job 7 running   [##########----------] 1/2  trial 7-1 on w epoch 2/3 batch 10/50  "
        "loss 0.25"
    )


def test_live_lines_off_a_terminal_print_once_per_change() -> None:
    out = io.StringIO()
    live = show.Live(out)
    for text, key in [("a 1", "a"), ("a 2", "a"), ("b 3", "b"), ("b 3", "b")]:
        live.show(text, key)
    live.done()
    assert out.getvalue() == "a 1\nb 3\n"


def test_a_worker_status_line() -> None:
    idle = {"name": "w", "connection": "connected", "job": None, "jobs_done": 2}
    assert status_line(idle)[0] == "worker w: connected, idle, 2 job(s) done"
    busy = {**idle, "job": 3, "trial": "3-0", "epoch": [1, 2], "batch": [5, 9], "metrics": {}}
    assert status_line(busy)[0] == "worker w: connected, job 3 trial 3-0 epoch 1/2 batch 5/9"


def test_the_examples_ship_in_the_package_and_the_clone_links_them(tmp_path: Path) -> None:
    for name in EXAMPLES:
        shipped = examples_dir() / name
        assert shipped.is_file()
        assert (ROOT / name).resolve() == shipped.resolve()  # one copy: the root is a link
    json.loads((examples_dir() / "sample_conf.json").read_text())
    assert copy_examples(tmp_path) == list(EXAMPLES)
    (tmp_path / "sample_conf.json").write_text("{}")
    assert copy_examples(tmp_path) == []  # never over a user's file
    assert (tmp_path / "sample_conf.json").read_text() == "{}"
    assert copy_examples(tmp_path, force=True) == list(EXAMPLES)


def test_the_examples_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["examples", str(tmp_path / "here")]) == 0
    out = capsys.readouterr().out
    assert f"copied {tmp_path / 'here' / 'train_cifar.ipynb'}" in out
    assert "jupyter mlops start" in out
    assert main(["examples", str(tmp_path / "here")]) == 0
    assert "kept" in capsys.readouterr().out


def test_the_worker_command_takes_ray_options(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["worker", "nb.ipynb", "--ray", "auto", "--trial-resources",
                                '{"GPU": 1, "CPU": 2}'])  # fmt: skip
    assert args.ray == "auto" and args.trial_resources == {"GPU": 1.0, "CPU": 2.0}
    assert parser().parse_args(["worker", "nb.ipynb", "--ray"]).ray == "local"
    plain = parser().parse_args(["worker", "nb.ipynb"])
    assert plain.ray is None and plain.trial_resources is None
    for bad in ("{GPU: 1}", '{"GPU": -1}', '["GPU"]', '{"GPU": true}'):
        with pytest.raises(SystemExit) as done:
            parser().parse_args(["worker", "nb.ipynb", "--ray", "--trial-resources", bad])
        assert done.value.code == 2
        assert "--trial-resources" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    assert "--ray [ADDRESS]" in capsys.readouterr().out


class FakeWorker:
    """What ``registry.start_worker`` starts, when no hub is needed."""

    name = "w"

    def start(self, wait: float) -> FakeWorker:
        return self

    def stop(self) -> None:
        pass


def test_the_worker_command_hands_ray_to_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the notebook's cells, the kernel gets the cell that makes start_worker use a
    RayExecutor on the address given; that cell, run here, hands it on (no cluster needed)."""
    import contextlib
    import types

    import nbclient
    import nbformat

    import jupyter_mlops.kernel_client as kernel_client
    from jupyter_mlops.cli import notebook, ray_option
    from jupyter_mlops.kernel_client.hub_client import TOKEN_ENV, URL_ENV
    from jupyter_mlops.kernel_client.worker import ray_executor, registry

    path = tmp_path / "train.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), path)
    for name in (URL_ENV, TOKEN_ENV, "JPY_SESSION_NAME"):
        monkeypatch.setenv(name, "")
    monkeypatch.setattr(
        notebook, "find_hub", lambda url, token: types.SimpleNamespace(url="http://h/", token="")
    )
    ran: list[str] = []

    class FakeClient:
        def __init__(self, nb: Any, **options: Any) -> None:
            self.timeout = None

        setup_kernel = contextlib.nullcontext

        def execute_cell(self, cell: Any, index: int, **options: Any) -> None:
            ran.append(cell.source)
            cell.outputs = [{"name": "stdout", "text": "null\n"}]  # the status: no worker

    monkeypatch.setattr(nbclient, "NotebookClient", FakeClient)
    args = parser().parse_args(
        ["worker", str(path), "--ray", "10.0.0.1:6379", "--trial-resources", '{"GPU": 1}']
    )
    assert notebook.run(args) == 1  # the fake notebook starts no worker
    assert ran[0] == ray_option.kernel_code("10.0.0.1:6379", {"GPU": 1.0}) and ran[1] == "x = 1"
    assert "Ray cluster at 10.0.0.1:6379" in capsys.readouterr().out

    # the cell, run in this process: start_worker gets the executor, unless it has one
    made: list[tuple[Any, Any]] = []
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(ray_executor, "import_ray", lambda: None)
    monkeypatch.setattr(ray_executor, "RayExecutor", lambda *a: made.append(a) or "executor")
    monkeypatch.setattr(registry, "Worker", lambda *a, **o: started.append(o) or FakeWorker())
    monkeypatch.setattr(registry, "_hub", types.SimpleNamespace(url="http://h/", token=""))
    monkeypatch.setattr(registry, "_worker", None)
    monkeypatch.setattr(registry, "_default_executor", None)
    exec(ran[0], {})
    kernel_client.start_worker(print, {}, "w")
    registry.start_worker(print, {}, "w", executor="mine")
    assert made == [("10.0.0.1:6379", {"GPU": 1.0})]
    assert [o["executor"] for o in started] == ["executor", "mine"]
    assert notebook.run(parser().parse_args(["worker", str(path), "--trial-resources", "{}"])) == 2

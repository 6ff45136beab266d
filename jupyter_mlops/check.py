"""Check a jupyter-mlops store, and repair what can be repaired.

    python -m jupyter_mlops.check [ROOT] [--repair] [--json]

ROOT is the store folder (``MLOpsApp.root_dir``; default ``<jupyter data dir>/mlops``). The
check opens the database (``PRAGMA quick_check``), re-hashes every model and checkpoint file
and looks for files nothing refers to. ``--repair`` fixes what can be fixed (see
``jupyter_mlops.serverext.storecheck``); nothing is repaired without it. Run it with the
server stopped. Exit status: 0 when the store is healthy (or fully repaired), 1 when problems
are left.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def default_root() -> Path:
    """Where the server keeps its store unless ``MLOpsApp.root_dir`` says otherwise."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "mlops"


def main(argv: list[str] | None = None) -> int:
    from jupyter_mlops.serverext.storecheck import check_store

    parser = argparse.ArgumentParser(
        prog="python -m jupyter_mlops.check", description=__doc__.split("\n")[0]
    )
    parser.add_argument("root", nargs="?", type=Path, help="the store folder")
    parser.add_argument("--repair", action="store_true", help="repair what can be repaired")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    root = (args.root or default_root()).expanduser()
    report = check_store(root, repair=args.repair)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0 if report.healthy else 1
    print(f"store {root}: {report.files} file(s) checked")
    for finding in report.findings:
        if finding.repaired:
            state = "repaired"
        elif finding.repair:
            state = "repairable"
        else:
            state = "not repairable"
        print(f"- {finding.problem}\n  [{state}] {finding.repair or 'needs a person'}")
        for note in finding.notes:
            print(f"    {note}")
    for known in report.known:
        print(f"- known: {known}")
    if report.healthy:
        print("the store is healthy" if not report.findings else "every problem was repaired")
        return 0
    if not args.repair and any(f.repair for f in report.findings):
        print("run again with --repair (the server stopped) to repair what can be repaired")
    return 1


if __name__ == "__main__":
    sys.exit(main())

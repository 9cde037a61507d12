"""Start-up CPU of the CLI: ``--help`` and one-row dry runs, before vs after the lazy imports.

Usage: ``.venv/bin/python bench/bench_startup.py [--quick] [--before REV] [--runs N]``

Each command is run as a child process (:func:`benchkit.run_child`: its own
CPU seconds from ``wait4``) on two source trees, alternately, ``--runs`` times
each, and the medians are compared as a ratio (after / before) from that one
run:

* before: the ``src`` tree of ``REV`` (default: the commit that split cli.py
  and client.py, just before the lazy imports), taken out with ``git archive``
  into a temporary folder and put first on ``PYTHONPATH``;
* after: this checkout.

The commands: ``upload-preds --help``; a one-row box dry run offline
(``--categories``); the same row dry-run against a sandbox (the read-only
preflight: key check, dataset, guard). The floor ``python -c pass`` is shown
for scale. The number of modules each side's ``--help`` imports
(``-X importtime``) is printed too. ``--quick``: three runs of each.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchkit import (
    ROOT,
    arguments,
    dataset_manifest,
    image_sample,
    run_child,
    sample_uuid,
    sandbox_env,
    source_tree,
    start_sandbox,
    stop,
)

#: The commit that split cli.py and client.py (pure moves), before the lazy imports.
SPLIT_COMMIT = "097478f"
CATEGORIES = ROOT / "sample_data" / "categories.json"
KEY = "bench-startup-key"


def cpu_of(args: Sequence[str], env: Mapping[str, str]) -> float:
    return run_child(args, env=env).cpu


def modules_of_help(env: Mapping[str, str]) -> int:
    """How many modules ``upload-preds --help`` imports (lines of ``-X importtime``)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "upload_preds", "--help"],
        capture_output=True,
        env=env,
        check=True,
    )
    lines = proc.stderr.decode().splitlines()
    return sum(1 for line in lines if line.startswith("import time:") and "[us]" not in line)


def write_inputs(tmp: Path) -> tuple[Path, Path]:
    """A one-row box prediction file and a one-sample manifest it matches."""
    uuid_ = sample_uuid("startup", 0)
    manifest = tmp / "manifest.json"
    manifest.write_text(
        json.dumps(
            dataset_manifest("startup", "bboxes", ["car", "truck"], [image_sample(uuid_, "a.jpg")])
        )
    )
    box = {"category": "car", "bbox": [1, 2, 30, 40], "score": 0.9}
    rows = tmp / "one.jsonl"
    rows.write_text(json.dumps({"sample_uuid": uuid_, "annotations": [box]}) + "\n")
    return rows, manifest


def main() -> None:
    parser = arguments(__doc__, "three runs of each command, a few seconds")
    parser.add_argument("--before", default=SPLIT_COMMIT, help="git revision of the before side")
    parser.add_argument("--runs", type=int, default=15, help="runs of each command and side")
    ns = parser.parse_args()
    runs = 3 if ns.quick else ns.runs
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as name:
        tmp = Path(name)
        before_src = source_tree(ns.before, tmp / "before")
        rows, manifest = write_inputs(tmp)
        proc, url = start_sandbox(tmp, key=KEY, data=manifest)
        try:
            base = sandbox_env(KEY, url)
            after_env = dict(base)
            before_env = {**base, "PYTHONPATH": os.pathsep.join([str(before_src), *_pythonpath()])}
            cli = [sys.executable, "-m", "upload_preds"]
            offline = [*cli, str(rows), "--dry-run", "--quiet", "--categories", str(CATEGORIES)]
            online = [*cli, str(rows), "--dry-run", "--quiet", "--state", str(tmp / "state")]
            commands = {
                "--help": [*cli, "--help"],
                "dry run, 1 row, offline": offline,
                "dry run, 1 row, sandbox": online,
            }
            floor = statistics.median(
                cpu_of([sys.executable, "-c", "pass"], after_env) for _ in range(runs)
            )
            print(f"before: {ns.before}; after: this checkout; median of {runs} runs each")
            print(f"{'floor: python -c pass':28s} {floor * 1000:7.1f} ms CPU")
            print(f"{'command':28s} {'before':>9s} {'after':>9s}  ratio after/before")
            for label, args in commands.items():
                # One run each first, not counted: the before tree is fresh, without .pyc files.
                cpu_of(args, before_env)
                cpu_of(args, after_env)
                before: list[float] = []
                after: list[float] = []
                for i in range(runs):
                    # Alternate which side goes first, so a neighbour's burst hits both alike.
                    sides = [(before, before_env), (after, after_env)]
                    for out, env in sides if i % 2 == 0 else sides[::-1]:
                        out.append(cpu_of(args, env))
                b, a = statistics.median(before), statistics.median(after)
                print(f"{label:28s} {b * 1000:6.1f} ms {a * 1000:6.1f} ms  {a / b:.3f}")
            print(
                f"modules imported by --help: before {modules_of_help(before_env)}, "
                f"after {modules_of_help(after_env)}"
            )
        finally:
            stop(proc)


def _pythonpath() -> list[str]:
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


if __name__ == "__main__":
    main()

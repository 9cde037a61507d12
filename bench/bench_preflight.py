"""Preflight time by sample name vs by sample uuid, at 50 ms sandbox latency.

Usage: ``.venv/bin/python bench/bench_preflight.py [--quick]``

Issue 12 part 4: resolving a few names must not page the whole dataset. Two
cases, in one run, each file run through ``upload-preds --dry-run`` (the whole
read-only preflight, nothing sent) in a subprocess, wall time:

(a) 1,000 ``sample_name`` rows against a 1,000,000-sample dataset (names are
    looked up one by one) vs the same rows by ``sample_uuid``; target ≤ 3x.
(b) 200,000 ``sample_name`` rows against a 200,000-sample dataset (the run
    pages, as before) vs the same file by uuid; the paging path's cost.

Seeding a million samples through the manifest would take minutes, so the
dataset is created by the sandbox from a one-sample manifest and the rest of
the samples are inserted into its SQLite file directly with ``executemany``
(same columns, same JSON), before the sandbox is started on that file.
``--quick`` divides the sizes by 10.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from upload_preds.sandbox import start_sandbox
from upload_preds.sandbox.faults import Faults

KEY = "bench-key-not-secret"
DATASET = "bench/names"
NS = uuid.UUID("0c3e2a3c-8d57-4d1e-9e1c-5b8f2d8b7a21")


def sample_uuid(i: int) -> str:
    return str(uuid.uuid5(NS, f"s-{i}"))


def sample_name(i: int) -> str:
    return f"frame_{i:07d}.jpg"


def manifest() -> dict[str, Any]:
    return {
        "datasets": [
            {
                "owner": "bench",
                "name": "names",
                "task_type": "vector",
                "task_attributes": {
                    "format_version": "0.1",
                    "categories": [{"id": 1, "name": "car"}],
                },
                "labelsets": [{"name": "ground-truth", "description": ""}],
                "samples": [
                    {
                        "uuid": sample_uuid(0),
                        "name": sample_name(0),
                        "attributes": {"image": {"url": "https://example.invalid/0.jpg"}},
                        "metadata": {},
                    }
                ],
            }
        ]
    }


def seed(db: Path, n: int) -> None:
    """The sandbox creates the dataset and sample 0; samples 1..n-1 go in directly."""
    start_sandbox(data=manifest(), db=db, api_key=KEY).stop()
    conn = sqlite3.connect(db)
    did, created = conn.execute(
        "SELECT d.id, s.created_at FROM datasets d JOIN samples s ON s.dataset_id = d.id"
    ).fetchone()
    rows = (
        (
            sample_uuid(i),
            did,
            sample_name(i),
            json.dumps({"image": {"url": f"https://example.invalid/{i}.jpg"}}),
            "{}",
            0.0,
            "",
            None,
            None,
            created,
            "bench",
        )
        for i in range(1, n)
    )
    with conn:
        conn.executemany("INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.close()


def write_rows(path: Path, ids: range | list[int], *, by_name: bool) -> Path:
    with path.open("w") as f:
        for i in ids:
            ref = {"sample_name": sample_name(i)} if by_name else {"sample_uuid": sample_uuid(i)}
            row = {**ref, "annotations": [{"category": "car", "bbox": [1, 2, 30, 40]}]}
            f.write(json.dumps(row) + "\n")
    return path


def dry_run(url: str, path: Path, state: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
    env.update({"SEGMENTS_API_KEY": KEY, "SEGMENTS_API_URL": url, "NO_COLOR": "1"})
    cmd = [sys.executable, "-m", "upload_preds", str(path), "--dataset", DATASET, "--dry-run"]
    started = time.monotonic()
    proc = subprocess.run([*cmd, "--state", str(state)], capture_output=True, env=env, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"dry run failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
    return elapsed


def case(tmp: Path, label: str, samples: int, rows: int) -> float:
    db = tmp / f"{label}.db"
    seed(db, samples)
    step = max(1, samples // rows)
    ids = list(range(0, samples, step))[:rows]
    by_name = write_rows(tmp / f"{label}-names.jsonl", ids, by_name=True)
    by_uuid = write_rows(tmp / f"{label}-uuids.jsonl", ids, by_name=False)
    with start_sandbox(db=db, data=manifest(), api_key=KEY, faults=Faults(latency_ms=50)) as sb:
        t_uuid = dry_run(sb.url, by_uuid, tmp / f"{label}-u.sqlite3")
        t_name = dry_run(sb.url, by_name, tmp / f"{label}-n.sqlite3")
    ratio = t_name / t_uuid
    print(
        f"{label}: {rows:,} rows / {samples:,} samples: by name {t_name:.2f} s, "
        f"by uuid {t_uuid:.2f} s, ratio {ratio:.2f}x"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes / 10")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        a = case(tmp, "few-names", 1_000_000 // scale, 1_000 // scale)
        b = case(tmp, "all-names", 200_000 // scale, 200_000 // scale)
    print(f"(a) few names vs uuid: {a:.2f}x (target <= 3x)")
    print(f"(b) every name (paging) vs uuid: {b:.2f}x")


if __name__ == "__main__":
    main()

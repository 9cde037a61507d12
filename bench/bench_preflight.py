"""Preflight time by sample name vs by sample uuid, and vs paging, at 50 ms latency.

Usage: ``.venv/bin/python bench/bench_preflight.py [--quick]``

Issue 12 part 4: neither resolving a few names nor guarding a few samples may
page the whole dataset. Each file is run through ``upload-preds --dry-run``
(the whole read-only preflight, guard snapshot included: everything before
the first PUT) in a subprocess, wall time, every variant against one sandbox
in one run:

(a) 1,000 rows against a 1,000,000-sample dataset, by ``sample_name`` (names
    looked up, the guard reads those samples' labels) and by ``sample_uuid``
    (the guard reads those labels); target: by name <= 3x by uuid. Both are
    also run on the old path, forced by ``--concurrency 1``: one lookup at a
    time takes as many rounds as there are names, which never beats paging
    by half (:func:`~upload_preds.preflight.lookup_pays`), so the preflight
    pages the sample list and the guard pages the label set listing, as
    before; paging is one request after the other at any concurrency, so
    this is the old path's cost, and a dry run sends nothing the flag would
    slow.
(b) 200,000 ``sample_name`` rows against a 200,000-sample dataset: the run
    pages; target: no slower than the forced paging path.

Seeding a million samples through the manifest would take minutes,
so the dataset is created by the sandbox from a one-sample manifest and the
rest of the samples are inserted into its SQLite file directly with
``executemany`` (same columns, same JSON), before the sandbox is started on
that file (which then indexes the new names for ``name__contains``: the
"seed" time printed includes that). ``--quick`` divides the sizes by 10;
``--repeat N`` runs each variant N times (alternating which goes first) and
keeps the best.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchkit import arguments, dataset_manifest, image_sample, run_child, sample_uuid, sandbox_env
from upload_preds.sandbox import start_sandbox
from upload_preds.sandbox.faults import Faults

KEY = "bench-key-not-secret"
DATASET = "bench/names"


def uuid_of(i: int) -> str:
    return sample_uuid("names", i)


def name_of(i: int) -> str:
    return f"frame_{i:07d}.jpg"


def manifest() -> dict[str, Any]:
    return dataset_manifest("names", "vector", ["car"], [image_sample(uuid_of(0), name_of(0))])


def seed(db: Path, n: int) -> None:
    """The sandbox creates the dataset and sample 0; samples 1..n-1 go in directly."""
    start_sandbox(data=manifest(), db=db, api_key=KEY).stop()
    conn = sqlite3.connect(db)
    did, created = conn.execute(
        "SELECT d.id, s.created_at FROM datasets d JOIN samples s ON s.dataset_id = d.id"
    ).fetchone()
    rows = (
        (
            uuid_of(i),
            did,
            name_of(i),
            json.dumps(image_sample(uuid_of(i), name_of(i))["attributes"]),
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
            ref = {"sample_name": name_of(i)} if by_name else {"sample_uuid": uuid_of(i)}
            row = {**ref, "annotations": [{"category": "car", "bbox": [1, 2, 30, 40]}]}
            f.write(json.dumps(row) + "\n")
    return path


def dry_run(url: str, path: Path, state: Path, *flags: str) -> float:
    cmd = [sys.executable, "-m", "upload_preds", str(path), "--dataset", DATASET, "--dry-run"]
    return run_child([*cmd, "--state", str(state), *flags], env=sandbox_env(KEY, url)).wall


def case(
    tmp: Path, label: str, samples: int, rows: int, *, by_uuid: bool, repeat: int
) -> dict[str, float]:
    """Best wall times of the variants of one case (see the module docstring), each
    run ``repeat`` times, new and paging alternating which goes first."""
    db = tmp / f"{label}.db"
    started = time.monotonic()
    seed(db, samples)
    step = max(1, samples // rows)
    ids = list(range(0, samples, step))[:rows]
    files = {"name": write_rows(tmp / f"{label}-names.jsonl", ids, by_name=True)}
    if by_uuid:
        files["uuid"] = write_rows(tmp / f"{label}-uuids.jsonl", ids, by_name=False)
    times: dict[str, float] = {}
    with start_sandbox(db=db, data=manifest(), api_key=KEY, faults=Faults(latency_ms=50)) as sb:
        print(f"{label}: seeded {samples:,} samples in {time.monotonic() - started:.1f} s")
        ways: list[tuple[str, tuple[str, ...]]] = [("new", ()), ("paging", ("--concurrency", "1"))]
        for n in range(repeat):
            for kind, path in files.items():
                for way, flags in ways if n % 2 == 0 else ways[::-1]:
                    key = f"{kind}/{way}"
                    state = tmp / f"{label}-{kind}-{way}-{n}.sqlite3"
                    took = dry_run(sb.url, path, state, *flags)
                    times[key] = min(took, times.get(key, took))
                    print(f"{label}: {rows:,} rows by {kind}, {way}: {took:.2f} s")
    return times


def main() -> None:
    parser = arguments(__doc__, "sizes / 10")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each variant, the best counts"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        a = case(tmp, "few", 1_000_000 // scale, 1_000 // scale, by_uuid=True, repeat=args.repeat)
        b = case(tmp, "all", 200_000 // scale, 200_000 // scale, by_uuid=False, repeat=args.repeat)
    print(
        f"(a) by name / by uuid: {a['name/new'] / a['uuid/new']:.2f}x (target <= 3x); "
        f"vs paging: by name {a['name/paging'] / a['name/new']:.1f}x faster, "
        f"by uuid {a['uuid/paging'] / a['uuid/new']:.1f}x faster"
    )
    print(f"(b) every name / paging forced: {b['name/new'] / b['name/paging']:.2f}x (target <= 1)")


if __name__ == "__main__":
    main()

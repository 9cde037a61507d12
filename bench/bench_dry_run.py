"""Dry-run speed and memory, measured side by side in one run.

What it measures (issue 2's targets):

1. Throughput: ``upload-preds FILE --dry-run`` over a generated JSONL of N rows
   with 5 boxes each, against the floor of ``orjson.loads`` over the same
   lines (read from the same file) in the same run. Target: at most 5x.
2. Peak RSS of that dry run at 100k and at N rows: at most 100 MB, and the
   large run within 10% of the small one.
3. The same memory check for a shuffled CSV of 100k and N annotations.

Each measured command runs in a fresh subprocess; peak RSS comes from
``os.wait4``'s rusage of that child alone. Absolute times are printed for
context, but only the ratios are targets (the machines are noisy).

Usage: ``python bench/bench_dry_run.py [--quick] [--rows 1000000] [--repeat 3] [--no-csv]``
(on a shared, noisy machine, ``--repeat`` measures floor and dry run back to
back several times and prints the median ratio).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

from benchkit import (
    ORJSON_FLOOR,
    ROOT,
    arguments,
    boxes,
    dry_run_command,
    run_child,
    write_jsonl,
    write_shuffled_csv,
)

CATEGORIES = ROOT / "sample_data" / "categories.json"
NAMES = ["car", "truck", "pedestrian", "cyclist", "traffic_sign"]


def make_jsonl(path: Path, rows: int) -> None:
    rng = random.Random(1)
    write_jsonl(
        path,
        (
            {"sample_uuid": str(uuid.UUID(int=i, version=4)), "annotations": boxes(rng, NAMES)}
            for i in range(rows)
        ),
    )


def dry_run(path: Path) -> list[str]:
    return dry_run_command(path, "--categories", str(CATEGORIES))


def main() -> None:
    parser = arguments(__doc__, "10,000 and 1,000 rows, a few seconds")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure the JSONL ratio this many times"
    )
    parser.add_argument("--no-csv", action="store_true", help="skip the CSV memory check")
    ns = parser.parse_args()
    if ns.quick:
        ns.rows, ns.small = 10_000, 1_000
    with tempfile.TemporaryDirectory(prefix="bench-dry-run-") as tmp:
        d = Path(tmp)
        small, big = d / "small.jsonl", d / "big.jsonl"
        make_jsonl(small, ns.small)
        make_jsonl(big, ns.rows)
        print(f"JSONL {ns.rows:,} rows x 5 boxes ({big.stat().st_size / 2**20:.0f} MiB)")
        ratios = []
        big_rss = 0.0
        for n in range(ns.repeat):
            # Floor and dry run back to back, so both see the same machine load.
            floor_wall = run_child([sys.executable, "-c", ORJSON_FLOOR, str(big)]).wall
            dry = run_child(dry_run(big), ok=(0, 1))
            run_wall, rss = dry.wall, dry.rss_mib
            big_rss = max(big_rss, rss)
            ratios.append(run_wall / floor_wall)
            tag = f" (run {n + 1}, load {os.getloadavg()[0]:.1f})" if ns.repeat > 1 else ""
            print(f"  orjson.loads floor     {floor_wall:7.2f} s{tag}")
            print(f"  upload-preds --dry-run {run_wall:7.2f} s")
            print(f"  ratio to floor         {run_wall / floor_wall:7.2f}x   (target <= 5x)")
        if ns.repeat > 1:
            print(f"  median ratio           {statistics.median(ratios):7.2f}x")
        small_rss = run_child(dry_run(small), ok=(0, 1)).rss_mib
        print(f"  peak RSS {ns.small:>9,} rows {small_rss:7.1f} MiB")
        print(f"  peak RSS {ns.rows:>9,} rows {big_rss:7.1f} MiB   (target <= 100 MiB)")
        print(f"  RSS ratio big/small     {big_rss / small_rss:7.3f}   (target <= 1.10)")
        small.unlink()
        big.unlink()
        if ns.no_csv:
            return

        csmall, cbig = d / "small.csv", d / "big.csv"
        write_shuffled_csv(csmall, ns.small, NAMES)
        write_shuffled_csv(cbig, ns.rows, NAMES)
        csv_run = run_child(dry_run(cbig), ok=(0, 1))
        cbig_wall, cbig_rss = csv_run.wall, csv_run.rss_mib
        csmall_rss = run_child(dry_run(csmall), ok=(0, 1)).rss_mib
        print(f"CSV {ns.rows:,} annotations, shuffled")
        print(f"  upload-preds --dry-run {cbig_wall:7.2f} s")
        print(f"  peak RSS {ns.small:>9,} rows {csmall_rss:7.1f} MiB")
        print(f"  peak RSS {ns.rows:>9,} rows {cbig_rss:7.1f} MiB   (target <= 100 MiB)")
        print(f"  RSS ratio big/small     {cbig_rss / csmall_rss:7.3f}   (target <= 1.10)")


if __name__ == "__main__":
    main()

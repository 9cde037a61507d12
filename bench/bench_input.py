"""Benchmark of the input layer: read throughput against a floor, and peak memory.

(a) JSONL reading: ``read_records`` over a generated file of rows with five
    boxes each, against the floor ``for line in f: orjson.loads(line)`` over
    the same file in the same run (best of three each); the ratio is printed.
(b) Peak RSS (``VmHWM``, :func:`benchkit.peak_rss_mib`), each case in a fresh subprocess: read + group a
    shuffled CSV of 100k and 1M annotations; read + dedupe 100k and 1M JSONL
    rows. Printed in MB with the 1M/100k ratio.

Generated files live in a temporary directory removed at the end.
Run: ``.venv/bin/python bench/bench_input.py [--quick] [--rows N]`` (N: rows for (a)).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from benchkit import arguments, boxes, peak_rss_mib, run_child, write_jsonl, write_shuffled_csv
from upload_preds.dedupe import DuplicateIndex
from upload_preds.grouping import Grouper
from upload_preds.readers import open_sources, read_records
from upload_preds.records import Record

CATEGORIES = ["car", "truck", "bus", "person", "bicycle"]


def make_jsonl(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    write_jsonl(
        path,
        (
            {
                # Every 1000th row repeats an earlier sample: duplicates to find.
                "sample_uuid": str(uuid.UUID(int=(i - 500 if i % 1000 == 999 else i) * 7919 + 1)),
                "labelset": "predictions",
                "score": round(rng.random(), 3),
                "annotations": boxes(rng, CATEGORIES, width=1800, height=1000),
                "_n": i,
            }
            for i in range(rows)
        ),
    )


def make_csv(path: Path, annotations: int) -> None:
    """A CSV of 5 annotations per sample, rows shuffled (benchkit.write_shuffled_csv)."""
    write_shuffled_csv(path, annotations, CATEGORIES, labelset="predictions")


def floor_seconds(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            orjson.loads(line)
    return time.perf_counter() - start


def read_seconds(path: Path) -> float:
    start = time.perf_counter()
    for _ in read_records(open_sources([str(path)])):
        pass
    return time.perf_counter() - start


def child(case: str, path: str) -> None:
    """Run one memory case in this (fresh) process and print its peak RSS in MB."""
    start = time.perf_counter()
    records = 0
    if case == "baseline":
        print(f"{peak_rss_mib():.1f}")
        return
    if case == "group":
        with Grouper() as grouper:
            for item in read_records(open_sources([path])):
                if isinstance(item, Record):
                    records += 1
                    data = item.data
                    grouper.add(f"{data['sample_uuid']}\x00{data['labelset']}", item.loc, data)
            groups = sum(1 for _ in grouper.groups())
        extra = f"{groups} groups"
    else:
        with DuplicateIndex() as index:
            for item in read_records(open_sources([path])):
                if isinstance(item, Record):
                    records += 1
                    index.add(f"{item.data['sample_uuid']}\x00predictions", item.loc)
            dups = len(index.duplicates())
        extra = f"{dups} duplicated keys"
    elapsed = time.perf_counter() - start
    print(f"{peak_rss_mib():.1f} {elapsed:.2f} {records} {extra}")


def measure(case: str, path: Path | str) -> str:
    """Run one memory case in a fresh process; its output line."""
    return run_child(
        [sys.executable, __file__, "--child", case, str(path)], stdout=True
    ).stdout.decode()


def run_case(case: str, path: Path) -> tuple[float, str]:
    out = measure(case, path).split(maxsplit=2)
    return float(out[0]), f"{float(out[1]):.1f} s, {out[2].strip()}"


def baseline_rss() -> float:
    return float(measure("baseline", "-"))


def main() -> None:
    parser = arguments(__doc__, "(a) 10,000 rows, (b) 10,000 and 100,000: a few seconds")
    parser.add_argument("--rows", type=int, default=200_000, help="JSONL rows for (a)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    small, big = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    if args.quick:
        args.rows = 10_000
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-input-") as tmp:
        d = Path(tmp)
        jsonl = d / "rows.jsonl"
        make_jsonl(jsonl, args.rows)
        size_mb = os.path.getsize(jsonl) / 1e6
        floors, reads = [], []
        for _ in range(3):
            floors.append(floor_seconds(jsonl))
            reads.append(read_seconds(jsonl))
        floor, read = min(floors), min(reads)
        print(f"(a) JSONL read, {args.rows} rows ({size_mb:.0f} MB), best of 3")
        print(f"    floor orjson.loads per line: {floor:.2f} s ({args.rows / floor:,.0f} rows/s)")
        print(f"    read_records:                {read:.2f} s ({args.rows / read:,.0f} rows/s)")
        print(f"    ratio read/floor:            {read / floor:.2f}x   (target <= 1.5x)")

        print(
            f"(b) peak RSS (VmHWM), fresh process per case (interpreter + imports: {baseline_rss():.1f} MB)"
        )
        for case, label, maker in (
            ("group", "CSV read + group, annotations", make_csv),
            ("dedupe", "JSONL read + dedupe, rows", make_jsonl),
        ):
            peaks = {}
            for n in (small, big):
                path = d / f"{case}-{n}.{'csv' if case == 'group' else 'jsonl'}"
                maker(path, n)
                peaks[n], info = run_case(case, path)
                print(f"    {label} {n:>9,}: {peaks[n]:6.1f} MB   ({info})")
                path.unlink()
            ratio = peaks[big] / peaks[small]
            print(f"    {label} {big:,}/{small:,} ratio: {ratio:.3f}   (target <= 1.10)")


if __name__ == "__main__":
    main()

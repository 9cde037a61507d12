"""The targeted guard's refresh reads over a run: settling samples vs reading them all.

Usage: ``.venv/bin/python bench/bench_guard_refresh.py [--quick]``

A file of N samples (by uuid) is uploaded by the engine with a targeted guard
(``Guard(samples=...)``: one ``GET /labels/{uuid}/{labelset}/`` per sample,
at the snapshot and at every refresh), refreshing every ``interval`` seconds,
at ``--rate``-like pacing that the guard's reads share with the PUTs. Two
variants against one in-process sandbox, in one run, each into its own label
set:

* now: the engine settles each sample once its label is written (or skipped
  as protected), and refreshes read only the samples still to be written;
* old: a guard whose ``settle`` does nothing, so every refresh reads every
  sample, as before.

Printed: refreshes, label reads (the sandbox's request counts), reads per
refresh, wall time, and the ratios now/old. The reads share the rate with
the uploads, so the old way's reads also make the run longer. ``--quick``
runs 100 samples in a few seconds.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

from benchkit import arguments, dataset_manifest, image_sample, sample_uuid
from upload_preds.client import SegmentsClient
from upload_preds.engine import UploadEngine
from upload_preds.engineconfig import EngineConfig
from upload_preds.preflight import Guard
from upload_preds.records import LabelJob, Location
from upload_preds.sandbox import SandboxHandle, start_sandbox

NAME = "guard"
DATASET = f"bench/{NAME}"
ROUTE = "/labels/{sample_uuid}/{labelset}/"
BOX = {"id": 1, "category_id": 1, "type": "bbox", "points": [[1.0, 2.0], [30.0, 40.0]]}


class ReadsAll(Guard):
    """The guard before this change: nothing is settled, every refresh reads every sample."""

    def settle(self, sample_uuid: str, labelset: str) -> None:
        return None


def jobs(n: int, labelset: str) -> list[LabelJob]:
    return [
        LabelJob(
            sample_uuid=sample_uuid(NAME, i),
            sample_name=None,
            labelset=labelset,
            label_status="PRELABELED",
            attributes={"format_version": "0.1", "annotations": [BOX]},
            score=None,
            locs=(Location("preds.jsonl", i + 1),),
        )
        for i in range(n)
    ]


def label_reads(box: SandboxHandle) -> int:
    return sum(box.stats()["requests"].get("GET", {}).get(ROUTE, {}).values())


def run(
    box: SandboxHandle, guard_type: type[Guard], labelset: str, n: int, rate: float,
    interval: float,
) -> tuple[int, int, float]:  # fmt: skip
    """(refreshes, label reads, seconds) of one upload of n labels into ``labelset``."""

    async def main() -> tuple[int, float]:
        async with SegmentsClient(box.url, box.api_key, concurrency=4) as client:
            samples = [sample_uuid(NAME, i) for i in range(n)]
            guard = guard_type(client, DATASET, refresh_interval=interval, samples=samples)
            await guard.snapshot(labelset, keep_labels=False)
            engine = UploadEngine(client, EngineConfig(concurrency=4, rate=rate), guard=guard)
            started = time.perf_counter()
            result = await engine.run(jobs(n, labelset))
            assert result.uploaded == n, result
            return guard.refreshes, time.perf_counter() - started

    before = label_reads(box)
    refreshes, seconds = asyncio.run(main())
    return refreshes, label_reads(box) - before, seconds


def main() -> int:
    args = arguments(__doc__, "100 samples, a few seconds").parse_args()
    n, rate, interval = (100, 200.0, 0.1) if args.quick else (1000, 200.0, 0.5)
    samples = [image_sample(sample_uuid(NAME, i), f"img_{i:05d}.jpg") for i in range(n)]
    manifest = dataset_manifest(NAME, "vector", ["car"], samples, labelsets=("now", "old"))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sandbox.db"
        with start_sandbox(data=manifest, db=db, api_key="sk-" + secrets.token_hex(8)) as box:
            print(f"{n} samples, rate {rate:g}/s shared by PUTs and guard reads, "
                  f"refresh every {interval:g} s")  # fmt: skip
            now = run(box, Guard, "now", n, rate, interval)
            old = run(box, ReadsAll, "old", n, rate, interval)
    for label, (refreshes, reads, seconds) in (("now", now), ("old", old)):
        per = (reads - n) / max(refreshes, 1)
        print(f"  {label}: {refreshes} refreshes, {reads} label reads (the snapshot's {n}, "
              f"then {per:.0f} per refresh), {seconds:.2f} s")  # fmt: skip
    print(f"  now/old: label reads {now[1] / old[1]:.2f}x, reads per refresh "
          f"{(now[1] - n) / max(now[0], 1) / ((old[1] - n) / max(old[0], 1)):.2f}x, "
          f"wall time {now[2] / old[2]:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

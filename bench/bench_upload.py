"""Upload benchmarks of the engine against the sandbox, all in one run, printed as ratios.

Usage: ``.venv/bin/python bench/bench_upload.py [--quick]``

The sandbox runs as a subprocess (``upload-preds-sandbox serve``) seeded with a
generated dataset; every client runs in its own subprocess too (this script
re-invoked with ``--child``), so CPU time and peak RSS are the client's alone.

(a) latency-bound: sandbox ``--latency-ms 50``; 5,000 labels at concurrency 64
    vs the ceiling 64 / 0.05 s; vs the official SDK's sequential ``add_label``
    loop (on fewer labels: rates are compared) and vs the SDK from 64 threads.
(b) CPU-bound: no added latency; client CPU seconds per label of the engine
    (journal on) vs a bare aiohttp PUT loop sending the same payloads.
(c) throttled: ``--throttle-rps 200``: goodput vs 200/s, share of 429s, and
    every label on the server (``/_sandbox/stats``).
(d) memory: 200,000 labels (cycling over the dataset's samples with changing
    scores, so nothing is skipped), peak RSS of the client process.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchkit import (
    arguments,
    dataset_manifest,
    image_sample,
    run_child,
    sample_uuid,
    start_sandbox,
    stop,
)

KEY = "bench-key-not-secret"
DATASET = "bench/boxes"
LABELSET = "predictions"


def manifest(n: int) -> dict[str, Any]:
    samples = [image_sample(sample_uuid("boxes", i), f"img_{i:06d}.jpg") for i in range(n)]
    return dataset_manifest(
        "boxes", "vector", ["car", "truck", "bike"], samples, ("ground-truth", LABELSET)
    )


def attributes(i: int) -> dict[str, Any]:
    return {
        "format_version": "0.1",
        "annotations": [
            {
                "id": k + 1,
                "category_id": 1 + (i + k) % 3,
                "type": "bbox",
                "points": [[10.5 + k, 20.25 + i % 50], [110.5 + k, 220.75 + i % 50]],
                "attributes": {"confidence": 0.5 + (i % 40) / 100},
            }
            for k in range(3)
        ],
    }


# -- the sandbox ----------------------------------------------------------------------------


class Sandbox:
    """The sandbox subprocess (in-memory store) for a ``with`` block, and its stats."""

    def __init__(self, data: Path, tmp: Path, *flags: str) -> None:
        self.proc, self.url = start_sandbox(tmp, *flags, key=KEY, data=data, db=":memory:")

    def stats(self) -> dict[str, Any]:
        req = urllib.request.Request(
            self.url + "_sandbox/stats", headers={"Authorization": f"APIKey {KEY}"}
        )
        with urllib.request.urlopen(req) as resp:
            data: dict[str, Any] = json.load(resp)
            return data

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self.proc)


def child(mode: str, url: str, **params: Any) -> dict[str, Any]:
    """One client in a fresh process; its result, with its peak RSS (from wait4)."""
    cmd = [sys.executable, __file__, "--child", mode, url, json.dumps(params)]
    run = run_child(cmd, stdout=True)
    result: dict[str, Any] = json.loads(run.stdout.decode().strip().splitlines()[-1])
    result["rss_mib"] = run.rss_mib
    return result


# -- the clients (run in child processes) ------------------------------------------------------


def jobs(n: int, samples: int) -> Iterator[Any]:
    from upload_preds.records import LabelJob, Location

    for i in range(n):
        yield LabelJob(
            sample_uuid=sample_uuid("boxes", i % samples),
            sample_name=None,
            labelset=LABELSET,
            label_status="PRELABELED",
            attributes=attributes(i),
            score=round(0.5 + (i % 1000) / 2000, 4),
            locs=(Location("bench.jsonl", i + 1),),
        )


async def run_engine(url: str, p: dict[str, Any]) -> dict[str, Any]:
    from upload_preds.client import SegmentsClient
    from upload_preds.engine import UploadEngine
    from upload_preds.engineconfig import EngineConfig
    from upload_preds.journal import Journal

    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "journal.sqlite3") if p["journal"] else None
        async with SegmentsClient(url, KEY, concurrency=p["concurrency"]) as client:
            engine = UploadEngine(
                client, EngineConfig(concurrency=p["concurrency"]), journal=journal
            )
            cpu0 = time.process_time()
            result = await engine.run(jobs(p["n"], p["samples"]))
            cpu = time.process_time() - cpu0
        if journal is not None:
            journal.close()
    return {
        "uploaded": result.uploaded,
        "failed": result.failed,
        "elapsed": result.elapsed,
        "cpu": cpu,
        "requests": result.requests,
        "throttled": result.throttled,
        "retries": result.retries,
        "min_concurrency": result.min_concurrency,
    }


async def run_bare(url: str, p: dict[str, Any]) -> dict[str, Any]:
    import aiohttp
    import orjson

    queue: asyncio.Queue[Any] = asyncio.Queue(2 * p["concurrency"])
    headers = {"Authorization": f"APIKey {KEY}", "Content-Type": "application/json"}
    done = 0

    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=p["concurrency"])
    ) as session:

        async def worker() -> None:
            nonlocal done
            while (job := await queue.get()) is not None:
                payload = orjson.dumps(job.body())
                put = f"{url}labels/{job.sample_uuid}/{job.labelset}/"
                async with session.put(put, data=payload, headers=headers) as resp:
                    await resp.read()
                    done += resp.status < 300

        cpu0 = time.process_time()
        started = time.monotonic()
        workers = [asyncio.create_task(worker()) for _ in range(p["concurrency"])]
        for job in jobs(p["n"], p["samples"]):
            await queue.put(job)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
        return {
            "uploaded": done,
            "elapsed": time.monotonic() - started,
            "cpu": time.process_time() - cpu0,
        }


def run_sdk(url: str, p: dict[str, Any]) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    from segments import SegmentsClient as SdkClient

    sdk = SdkClient(KEY, api_url=url.rstrip("/"))
    all_jobs = list(jobs(p["n"], p["samples"]))

    def put(job: Any) -> None:
        sdk.add_label(
            job.sample_uuid,
            job.labelset,
            job.attributes,
            label_status="PRELABELED",
            score=job.score,
        )

    started = time.monotonic()
    if p["threads"] <= 1:
        for job in all_jobs:
            put(job)
    else:
        with ThreadPoolExecutor(p["threads"]) as pool:
            list(pool.map(put, all_jobs))
    return {"uploaded": len(all_jobs), "elapsed": time.monotonic() - started}


def child_main(mode: str, url: str, params: str) -> None:
    p = json.loads(params)
    if mode == "engine":
        out = asyncio.run(run_engine(url, p))
    elif mode == "bare":
        out = asyncio.run(run_bare(url, p))
    else:
        out = run_sdk(url, p)
    print(json.dumps(out))


# -- the benchmark ----------------------------------------------------------------------------


def line(name: str, value: float, target: str, ok: bool, extra: str = "") -> None:
    mark = "PASS" if ok else "FAIL"
    print(f"  {name:<48} {value:>9.2f}  target {target:<8} {mark}  {extra}", flush=True)


def main() -> None:
    ap = arguments(__doc__, "smaller runs (not the targets' sizes)")
    ap.add_argument("--only", default="abcd", help="which sections to run, e.g. 'ac'")
    args = ap.parse_args()
    scale = 0.2 if args.quick else 1.0
    n_lat = int(5000 * scale)
    n_cpu = int(10000 * scale)
    n_thr = int(10000 * scale)
    n_mem = int(200_000 * scale)
    samples = max(n_lat, n_thr, 5000)

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        data = tmp / "dataset.json"
        data.write_text(json.dumps(manifest(samples)))
        print(f"upload benchmarks ({os.cpu_count()} cores, loopback, sandbox subprocess)")

        if "a" in args.only:
            print("(a) latency-bound: --latency-ms 50, concurrency 64")
            with Sandbox(data, tmp, "--latency-ms", "50") as box:
                ours = child(
                    "engine", box.url, n=n_lat, samples=samples, concurrency=64, journal=True
                )
                bare = child("bare", box.url, n=n_lat, samples=samples, concurrency=64)
                seq = child("sdk", box.url, n=100, samples=samples, threads=1)
                threads = child("sdk", box.url, n=min(n_lat, 3000), samples=samples, threads=64)
            rate = ours["uploaded"] / ours["elapsed"]
            seq_rate = seq["uploaded"] / seq["elapsed"]
            thr_rate = threads["uploaded"] / threads["elapsed"]
            print(
                f"  ours {rate:.0f} labels/s ({ours['uploaded']} labels, failed {ours['failed']})"
            )
            bare_rate = bare["uploaded"] / bare["elapsed"]
            print(
                f"  SDK sequential {seq_rate:.1f}/s, SDK 64 threads {thr_rate:.0f}/s, "
                f"bare aiohttp loop {bare_rate:.0f}/s ({bare_rate / 1280:.0%} of the ceiling)"
            )
            line("throughput / (64 / 0.05 s)", rate / 1280, ">= 0.90", rate / 1280 >= 0.9)
            line(
                "vs SDK sequential add_label loop", rate / seq_rate, ">= 50", rate / seq_rate >= 50
            )
            line("vs SDK from 64 threads", rate / thr_rate, ">= 1.2", rate / thr_rate >= 1.2)

        if "b" in args.only:
            print("(b) CPU-bound: no added latency, concurrency 64")
            with Sandbox(data, tmp) as box:
                kw = {"n": n_cpu, "samples": samples, "concurrency": 64}
                bare = child("bare", box.url, **kw)
                ours = child("engine", box.url, journal=True, **kw)
                nojournal = child("engine", box.url, journal=False, **kw)
            per = {k: v["cpu"] / v["uploaded"] * 1e6 for k, v in [("bare", bare), ("ours", ours)]}
            per_nj = nojournal["cpu"] / nojournal["uploaded"] * 1e6
            print(
                f"  CPU us/label: bare aiohttp {per['bare']:.0f}, engine+journal {per['ours']:.0f}, "
                f"engine without journal {per_nj:.0f}; "
                f"labels/s bare {bare['uploaded'] / bare['elapsed']:.0f}, "
                f"ours {ours['uploaded'] / ours['elapsed']:.0f}"
            )
            ratio = per["ours"] / per["bare"]
            line("client CPU per label / bare aiohttp loop", ratio, "<= 2.0", ratio <= 2.0)

        if "c" in args.only:
            print("(c) throttled: --throttle-rps 200, concurrency 16")
            with Sandbox(data, tmp, "--throttle-rps", "200") as box:
                ours = child(
                    "engine", box.url, n=n_thr, samples=samples, concurrency=16, journal=True
                )
                stats = box.stats()
            puts = stats["requests"].get("PUT", {})
            put_counts: dict[str, int] = {}
            for by_status in puts.values():
                for status, count in by_status.items():
                    put_counts[status] = put_counts.get(status, 0) + count
            total_puts = sum(put_counts.values())
            share_429 = put_counts.get("429", 0) / max(1, total_puts)
            stored = sum(
                n
                for ds in stats["labels"].values()
                for status_counts in [ds.get(LABELSET, {})]
                for n in status_counts.values()
            )
            goodput = ours["uploaded"] / ours["elapsed"]
            print(
                f"  {ours['uploaded']} uploaded in {ours['elapsed']:.1f} s, PUT statuses {put_counts}, "
                f"labels stored in {LABELSET!r}: {stored}"
            )
            line("goodput / 200 per s", goodput / 200, ">= 0.90", goodput / 200 >= 0.9)
            line("share of requests answered 429", share_429, "<= 0.10", share_429 <= 0.10)
            lost = n_thr - stored
            line("labels lost", lost, "== 0", lost == 0 and ours["uploaded"] == n_thr)

        if "d" in args.only:
            print(f"(d) memory: {n_mem} labels, no added latency, concurrency 16, journal on")
            with Sandbox(data, tmp) as box:
                ours = child(
                    "engine", box.url, n=n_mem, samples=samples, concurrency=16, journal=True
                )
            print(
                f"  {ours['uploaded']} uploaded in {ours['elapsed']:.1f} s "
                f"({ours['uploaded'] / ours['elapsed']:.0f}/s)"
            )
            line("peak RSS of the client (MiB)", ours["rss_mib"], "< 150", ours["rss_mib"] < 150)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()

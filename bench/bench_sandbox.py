"""Throughput of the sandbox: validated and committed label PUTs per second.

Starts ``upload-preds-sandbox`` as a subprocess (its own process, a SQLite
file in WAL mode in a temporary directory), adds samples, then drives it from
this process with 64 connections doing label PUTs (valid vector labels, a mix
of creates and replaces). Each run starts a fresh sandbox:

1. faults off, a 64-connection aiohttp client: PUTs/s and its ratio to the
   3,000/s target of issue 3, next to the same client against a bare
   aiohttp server (no routes, no validation, no database) measured in the
   same run, so the cost of the sandbox itself shows as a ratio that does
   not depend on how busy the machine is; and the server processes' CPU per
   request (from ``/proc``), since the client is near its own limit;
2. ``--latency-ms 50``, 64 concurrent clients: labels/s as a share of the
   ceiling 64 / 0.05 s, measured with two clients. The aiohttp client spends
   about 300 µs of CPU on each request on these machines, and its requests
   queue behind each other on its one core, so even against a server that
   does nothing but answer exactly 50 ms after each request arrives ("ideal",
   also measured here) it sees only about 90% of the ceiling: that number is
   the client's, not the server's. The "lean" client (64 keep-alive
   connections on asyncio streams, a request written as bytes, the answer's
   status line and Content-Length parsed, the body read) costs little per
   request, so its share of the ceiling is what the sandbox allows; the 95%
   target of issue 3 is judged on it. Both clients check every status.

3. ``--before SRC``: the same runs against the sandbox of another checkout
   (``SRC`` is its ``src`` folder, put first on ``PYTHONPATH`` of the server
   process), alternated with this one in the same run, ``--rounds`` times:
   the "before/after" ratios of a change to the server (issue 10 measured the
   home-made HTTP layer against uvicorn this way).

The load average is printed with the results: on a shared 2-core machine
other processes take CPU from both client and server.

Usage: ``python bench/bench_sandbox.py [--quick] [--puts N] [--latency-puts N] [--before SRC] [--rounds N]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from benchkit import arguments, launch, start_sandbox, stop

CONCURRENCY = 64
TARGET_PUTS_PER_S = 3000.0
LATENCY_MS = 50.0
KEY = "bench-key"
DATASET = "demo/street-scenes"


BARE_SERVER = """
import asyncio, json, os, sys
from aiohttp import web

async def handle(request):
    await request.read()
    return web.Response(body=b'{"ok": true}', content_type="application/json")

async def main():
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump({"url": f"http://127.0.0.1:{port}/"}, f)
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    await asyncio.Event().wait()

asyncio.run(main())
"""


def start_bare(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A bare aiohttp server: reads the body, answers a constant (the baseline)."""
    ready = tmp / f"bare-{time.monotonic_ns()}.json"
    return launch("bare server", [sys.executable, "-c", BARE_SERVER, str(ready)], ready)


IDEAL_SERVER = """
import asyncio, json, os, sys
import uvicorn

HEAD = {"type": "http.response.start", "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"12")]}
BODY = {"type": "http.response.body", "body": b'{"ok": true}'}

async def app(scope, receive, send):
    loop = asyncio.get_running_loop()
    due = loop.time() + delay
    while (await receive()).get("more_body"):
        pass
    await asyncio.sleep(due - loop.time())
    await send(HEAD)
    await send(BODY)

delay = float(sys.argv[2])
config = uvicorn.Config(app, host="127.0.0.1", port=0, http="httptools", loop="asyncio",
                        lifespan="off", access_log=False, log_level="warning")
server = uvicorn.Server(config)

async def main():
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump({"url": f"http://127.0.0.1:{port}/"}, f)
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    await task

asyncio.run(main())
"""


def start_ideal(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn answering a constant LATENCY_MS after arrival, no work (the sandbox's server)."""
    ready = tmp / f"ideal-{time.monotonic_ns()}.json"
    delay = str(LATENCY_MS / 1000)
    return launch("ideal server", [sys.executable, "-c", IDEAL_SERVER, str(ready), delay], ready)


def label_body(i: int) -> dict[str, Any]:
    x = float(i % 500)
    return {
        "attributes": {
            "format_version": "0.1",
            "annotations": [
                {
                    "id": k + 1,
                    "category_id": (k % 8) + 1,
                    "type": "bbox",
                    "points": [[x + k, 10.0 + k], [x + k + 40.5, 80.25 + k]],
                    "attributes": {"confidence": 0.5 + k / 10},
                }
                for k in range(3)
            ],
        },
        "label_status": "PRELABELED",
        "score": 0.87,
    }


async def prepare(url: str, n_samples: int) -> list[str]:
    headers = {"Authorization": f"APIKey {KEY}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        async with s.post(
            f"{url}datasets/{DATASET}/labelsets/", json={"name": "bench", "description": ""}
        ) as r:
            assert r.status == 201, await r.text()
        samples = [
            {"name": f"bench_{i:06d}.jpg", "attributes": {"image": {"url": f"b/{i}.png"}}}
            for i in range(n_samples)
        ]
        async with s.post(f"{url}datasets/{DATASET}/samples_bulk/", json=samples) as r:
            assert r.status == 201, await r.text()
            return [x["uuid"] for x in await r.json()]


async def drive(url: str, uuids: list[str], n: int) -> tuple[float, int]:
    """PUT n labels with CONCURRENCY workers; returns (seconds, failures)."""
    bodies = [json.dumps(label_body(i)).encode() for i in range(256)]
    headers = {"Authorization": f"APIKey {KEY}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    failures = 0
    counter = iter(range(n))

    async def worker(s: aiohttp.ClientSession) -> None:
        nonlocal failures
        for i in counter:
            u = uuids[i % len(uuids)]
            async with s.put(
                f"{url}labels/{u}/bench/", data=bodies[i % len(bodies)], headers=headers
            ) as r:
                await r.read()
                if r.status not in (200, 201):
                    failures += 1

    async with aiohttp.ClientSession(connector=connector) as s:
        # One warm-up round so connection set-up is not timed.
        async with s.get(f"{url}api_status/", headers=headers) as r:
            await r.read()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(s) for _ in range(CONCURRENCY)))
        return time.perf_counter() - t0, failures


async def drive_lean(url: str, uuids: list[str], n: int) -> tuple[float, int]:
    """PUT n labels over CONCURRENCY keep-alive connections on asyncio streams."""
    parsed = urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    bodies = [json.dumps(label_body(i)).encode() for i in range(256)]
    counter = iter(range(n))
    failures = 0

    def request(i: int) -> bytes:
        body = bodies[i % len(bodies)]
        head = (
            f"PUT /labels/{uuids[i % len(uuids)]}/bench/ HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nAuthorization: APIKey {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def worker() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in counter:
                writer.write(request(i))
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                if status not in (200, 201):
                    failures += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - t0, failures


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(
    tmp: Path,
    n: int,
    extra: list[str],
    n_samples: int,
    lean: bool = False,
    src: str | None = None,
) -> tuple[float, int, float]:
    """(PUTs/s, failures, server CPU µs per PUT) of one fresh sandbox."""
    proc, url = start_sandbox(tmp, *extra, key=KEY, src=src)
    try:
        uuids = asyncio.run(prepare(url, n_samples))
        cpu0 = server_cpu_s(proc.pid)
        seconds, failures = asyncio.run((drive_lean if lean else drive)(url, uuids, n))
        return n / seconds, failures, (server_cpu_s(proc.pid) - cpu0) * 1e6 / n
    finally:
        stop(proc)


def ideal(tmp: Path, n: int, lean: bool) -> float:
    proc, url = start_ideal(tmp)
    try:
        seconds, _ = asyncio.run((drive_lean if lean else drive)(url, ["x"], n))
        return n / seconds
    finally:
        stop(proc)


def main() -> None:
    ap = arguments(__doc__, "3,000 and 640 PUTs, a few seconds a run")
    ap.add_argument("--puts", type=int, default=30_000, help="PUTs in the no-fault run")
    ap.add_argument("--latency-puts", type=int, default=6_400, help="PUTs in the 50 ms run")
    ap.add_argument("--before", help="src folder of another checkout to compare with")
    ap.add_argument("--rounds", type=int, default=1, help="before/after rounds (with --before)")
    args = ap.parse_args()
    if args.quick:
        args.puts, args.latency_puts = 3_000, 640
    print(f"sandbox benchmark: {CONCURRENCY} connections, {os.cpu_count()} cores, loopback")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        proc, url = start_bare(tmp)
        try:
            cpu0 = server_cpu_s(proc.pid)
            bare_s, _ = asyncio.run(drive(url, ["x"], args.puts))
            bare_cpu = (server_cpu_s(proc.pid) - cpu0) * 1e6 / args.puts
        finally:
            stop(proc)
        bare = args.puts / bare_s
        # More samples than PUTs/2 so the run mixes creates (INSERT) and replaces (UPDATE).
        rate, failures, cpu = run(tmp, args.puts, [], n_samples=args.puts // 2)
        print(
            f"faults off                    : {rate:8.0f} label PUTs/s  "
            f"= {rate / TARGET_PUTS_PER_S:.2f} x the 3,000/s target  (failures: {failures})"
        )
        print(
            f"bare aiohttp                  : {bare:8.0f} PUTs/s  (same client, no work per request); "
            f"sandbox / bare = {rate / bare:.2f}"
        )
        # The client is near its own limit, so PUTs/s moves with the machine; the
        # server's CPU per request says how much room the sandbox leaves.
        print(
            f"server CPU per request        : sandbox {cpu:.0f} µs (validated, committed), "
            f"bare aiohttp {bare_cpu:.0f} µs; sandbox / bare = {cpu / bare_cpu:.2f}"
        )
        ceiling = CONCURRENCY / (LATENCY_MS / 1000)
        latency = ["--latency-ms", str(LATENCY_MS)]
        for name, lean in (("lean", True), ("aiohttp", False)):
            rate, failures, _ = run(tmp, args.latency_puts, latency, n_samples=1000, lean=lean)
            best = ideal(tmp, args.latency_puts, lean)
            target = "  (the 95% target)" if lean else ""
            print(
                f"latency 50 ms, {name:7s} client : {rate:6.0f} label PUTs/s "
                f"= {rate / ceiling:.1%} of the ceiling {ceiling:.0f}/s{target}  "
                f"(failures: {failures})\n"
                f"  ideal server, same client   : {best:6.0f}/s = {best / ceiling:.1%}; "
                f"sandbox / ideal = {rate / best:.2f}"
            )
        if args.before:
            compare(tmp, args.before, args.rounds, args.puts, args.latency_puts)
        print(f"load average                  : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def compare(tmp: Path, before: str, rounds: int, puts: int, latency_puts: int) -> None:
    """Alternate the other checkout's sandbox ("before") with this one ("after")."""
    ceiling = CONCURRENCY / (LATENCY_MS / 1000)
    latency = ["--latency-ms", str(LATENCY_MS)]
    for r in range(1, rounds + 1):
        got: dict[str, tuple[float, float, float]] = {}
        for label, src in (("before", before), ("after", None)):
            rate, f1, cpu = run(tmp, puts, [], n_samples=puts // 2, src=src)
            lat, f2, _ = run(tmp, latency_puts, latency, 1000, lean=True, src=src)
            got[label] = (rate, cpu, lat / ceiling)
            print(
                f"round {r} {label:6s}: {rate:6.0f} PUTs/s, server CPU {cpu:4.0f} µs/PUT, "
                f"50 ms lean {lat / ceiling:.1%} of C/L  (failures: {f1 + f2})"
            )
        (b_rate, b_cpu, b_lat), (a_rate, a_cpu, a_lat) = got["before"], got["after"]
        print(
            f"round {r} after/before: PUTs/s {a_rate / b_rate:.2f}, "
            f"CPU per PUT {a_cpu / b_cpu:.2f}, share of C/L {a_lat / b_lat:.3f}"
        )


if __name__ == "__main__":
    main()

"""Fault injection measured from the outside: error, drop and throttle rates on 2,000
requests against the flags, Retry-After on every 429, writes not applied on errors
and applied on half of the drops, latency, and seeded reproducibility.

Tolerances are statistical: four standard deviations of the binomial count
(a false failure about once in 16,000 runs for an unseeded stream; the seeds
make each run deterministic anyway).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import pytest
from sandboxkit import DEMO_DS, KEY

from upload_preds.sandbox import Faults, SandboxHandle, start_sandbox

N = 2000
HEADERS = {"Authorization": f"APIKey {KEY}"}
LABEL = {
    "attributes": {
        "format_version": "0.1",
        "annotations": [{"id": 1, "category_id": 1, "type": "bbox", "points": [[0, 0], [5, 5]]}],
    },
    "score": 0.5,
}
ROUTE = "/labels/{sample_uuid}/{labelset}/"


def within(count: int, n: int, p: float) -> bool:
    """Whether ``count`` successes in ``n`` trials fit rate ``p`` (4 sigma)."""
    return abs(count - n * p) <= 4 * math.sqrt(n * p * (1 - p)) + 1


@pytest.fixture(scope="module")
def many() -> Iterator[tuple[SandboxHandle, list[str]]]:
    """One sandbox with 3 x N extra samples, so every PUT below writes a label of its own."""
    with start_sandbox(api_key=KEY) as sb:
        samples = [
            {"name": f"f{i:05d}.jpg", "attributes": {"image": {"url": "u"}}} for i in range(3 * N)
        ]
        r = httpx.post(
            f"{sb.url}datasets/{DEMO_DS}/samples_bulk/", json=samples, headers=HEADERS, timeout=60
        )
        assert r.status_code == 201
        yield sb, [s["uuid"] for s in r.json()]


async def put_all(url: str, uuids: list[str], concurrency: int = 16) -> list[int | str]:
    """PUT one label per uuid; the outcome per request: status, or "dropped".

    A bare HTTP/1.1 client over asyncio streams, one connection per request,
    on purpose: aiohttp's client silently resends an idempotent request once
    when the server closes the connection without an answer, which would hide
    the very drops this measures.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = json.dumps(LABEL).encode()
    outcomes: list[int | str] = [0] * len(uuids)
    todo = iter(range(len(uuids)))

    async def one(sample_uuid: str) -> int | str:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            head = (
                f"PUT /labels/{sample_uuid}/predictions/ HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: APIKey {KEY}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
            answer = await reader.read()
        except ConnectionError:
            return "dropped"
        finally:
            writer.close()
        if not answer:
            return "dropped"
        return int(answer.split(b" ", 2)[1])

    async def worker() -> None:
        for i in todo:
            outcomes[i] = await one(uuids[i])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def stored(sb: SandboxHandle, uuids: list[str]) -> set[str]:
    """The uuids among ``uuids`` with a label in "predictions", in one listing request."""
    r = httpx.get(
        f"{sb.url}datasets/{DEMO_DS}/samples/?labelset=predictions&per_page=100000",
        headers=HEADERS,
        timeout=30,
    )
    labelled = {s["uuid"] for s in r.json() if s["label"]["label_status"] != "UNLABELED"}
    return labelled & set(uuids)


@pytest.mark.slow
def test_error_rate_and_writes_not_applied(many: tuple[SandboxHandle, list[str]]) -> None:
    sb, all_uuids = many
    uuids = all_uuids[:N]
    sb.set_faults(Faults(error_rate=0.2), seed=11)
    sb.reset_stats()
    try:
        outcomes = asyncio.run(put_all(sb.url, uuids))
    finally:
        sb.set_faults(Faults())
    counts = Counter(outcomes)
    errors = counts[500] + counts[502] + counts[503]
    assert within(errors, N, 0.2), counts
    assert min(counts[500], counts[502], counts[503]) > 0  # all three kinds occur
    assert errors + counts[201] == N
    ok = {u for u, o in zip(uuids, outcomes, strict=True) if o == 201}
    assert stored(sb, uuids) == ok  # a 5xx never applied its write
    server = sb.stats()["requests"]["PUT"][ROUTE]
    assert server == {str(k): v for k, v in counts.items()}


@pytest.mark.slow
def test_drop_rate_half_after_write(many: tuple[SandboxHandle, list[str]]) -> None:
    sb, all_uuids = many
    uuids = all_uuids[N : 2 * N]
    sb.set_faults(Faults(drop_rate=0.2), seed=12)
    sb.reset_stats()
    try:
        outcomes = asyncio.run(put_all(sb.url, uuids))
    finally:
        sb.set_faults(Faults())
    dropped = [u for u, o in zip(uuids, outcomes, strict=True) if o == "dropped"]
    assert within(len(dropped), N, 0.2)
    server = sb.stats()["requests"]["PUT"][ROUTE]
    assert server["dropped"] + server["dropped-after-write"] == len(dropped)
    assert within(server["dropped-after-write"], len(dropped), 0.5)
    # The client cannot tell, but the store can: exactly the after-write drops
    # left a label behind.
    visible = stored(sb, dropped)
    assert len(visible) == server["dropped-after-write"] > 0


@pytest.mark.slow
def test_throttle_rate_and_retry_after(many: tuple[SandboxHandle, list[str]]) -> None:
    sb, _ = many
    rps = 200.0
    statuses: list[int] = []
    retry_after: list[str | None] = []
    bodies: list[Any] = []

    async def run() -> float:
        todo = iter(range(N))
        async with aiohttp.ClientSession(headers=HEADERS) as s:

            async def worker() -> None:
                for _ in todo:
                    async with s.get(f"{sb.url}api_status/") as r:
                        statuses.append(r.status)
                        if r.status == 429:
                            retry_after.append(r.headers.get("Retry-After"))
                            bodies.append(await r.json())

            sb.set_faults(Faults(throttle_rps=rps), seed=13)
            t0 = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(16)))
            return time.monotonic() - t0

    try:
        elapsed = asyncio.run(run())
    finally:
        sb.set_faults(Faults())
    ok = statuses.count(200)
    assert ok + len(retry_after) == N
    burst = rps / 10
    expected = burst + rps * elapsed
    # The bucket lets through its burst plus rps per second of the run.
    assert abs(ok - expected) <= 0.1 * expected + 5, (ok, expected, elapsed)
    assert retry_after, "the client was not fast enough to be throttled"
    assert all(v is not None and v.isdigit() and int(v) >= 1 for v in retry_after)
    pattern = re.compile(r"^Request was throttled\. Expected available in (\d+) seconds\.$")
    for value, body in zip(retry_after, bodies, strict=True):
        m = pattern.match(body["detail"])
        assert m is not None
        assert m.group(1) == value


def test_latency_and_jitter_delay_every_answer() -> None:
    faults = Faults(latency_ms=120, jitter_ms=60)
    with (
        start_sandbox(api_key=KEY, faults=faults, seed=3) as sb,
        httpx.Client(base_url=sb.url, headers=HEADERS, timeout=10) as c,
    ):
        c.get("api_status/")  # connection set-up out of the timing
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            assert c.get("api_status/").status_code == 200
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        assert c.get("no/such/route/").status_code == 404
        times.append(time.perf_counter() - t0)
    assert min(times) >= 0.12
    assert max(times) < 0.18 + 0.5  # latency + jitter + generous scheduling slack
    assert len({round(t, 3) for t in times}) > 1  # the jitter varies


def statuses_for(seed: int) -> list[int]:
    faults = Faults(error_rate=0.3, throttle_rps=None)
    with (
        start_sandbox(api_key=KEY, faults=faults, seed=seed) as sb,
        httpx.Client(base_url=sb.url, headers=HEADERS, timeout=10) as c,
    ):
        return [c.get("api_status/").status_code for _ in range(60)]


def test_seed_makes_faults_reproducible() -> None:
    first, again, other = statuses_for(5), statuses_for(5), statuses_for(6)
    assert first == again
    assert first != other
    assert set(first) - {200} <= {500, 502, 503}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        pytest.param({"error_rate": 1.5}, "--error-rate", id="error-rate"),
        pytest.param({"drop_rate": -0.1}, "--drop-rate", id="drop-rate"),
        pytest.param({"error_rate": 0.6, "drop_rate": 0.6}, "together", id="sum"),
        pytest.param({"throttle_rps": 0}, "--throttle-rps", id="throttle"),
        pytest.param({"latency_ms": -1}, "--latency-ms", id="latency"),
    ],
)
def test_bad_fault_settings_are_refused(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Faults(**kwargs)


def test_faults_settable_over_http(sandbox: SandboxHandle) -> None:
    with httpx.Client(base_url=sandbox.url, headers=HEADERS, timeout=10) as c:
        r = c.put("_sandbox/faults", json={"error_rate": 1.0, "seed": 1})
        assert r.status_code == 200
        assert c.get("api_status/").status_code in (500, 502, 503)
        assert c.get("_sandbox/faults").json()["error_rate"] == 1.0  # control routes: no faults
        bad = c.put("_sandbox/faults", json={"error_rate": 2})
        assert bad.status_code == 400
        assert c.put("_sandbox/faults", json={}).status_code == 200
        assert c.get("api_status/").status_code == 200
    assert sandbox.faults == Faults()

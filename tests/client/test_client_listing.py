"""Listings page to the end whatever the server's page size; 502s shrink the page;
a 2xx that says "throttled" is a 429. Against a scriptable server on a real socket."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from enginekit import API_KEY, Reply, ScriptServer, Seen

from upload_preds.client import ApiError, SegmentsClient

NAMES = [f"img_{i:04d}.jpg" for i in range(1234)]


def listing(cap: int | None = None, fail_above: int | None = None) -> Any:
    """A sample list of ``NAMES`` that serves at most ``cap`` a page and answers 502
    to pages larger than ``fail_above``; offsets follow the served page size."""

    def script(seen: Seen) -> Reply:
        asked = int(seen.query["per_page"])
        if fail_above is not None and asked > fail_above:
            return Reply(502, {"detail": "Bad gateway"})
        size = min(asked, cap) if cap else asked
        page = int(seen.query["page"])
        chunk = NAMES[(page - 1) * size : page * size]
        if not chunk and page > 1:
            return Reply(404, {"detail": "Invalid page."})
        return Reply(200, [{"uuid": n, "name": n} for n in chunk])

    return script


def names(url: str, per_page: int = 1000) -> list[str]:
    async def main() -> list[str]:
        async with SegmentsClient(url, API_KEY, retries=2) as c:
            return [str(s["name"]) async for s in c.iter_samples("o/d", per_page=per_page)]

    return asyncio.run(main())


def test_a_capped_page_size_does_not_end_the_listing(server: ScriptServer) -> None:
    server.script = listing(cap=100)
    assert names(server.url) == NAMES
    queries = [s.query for s in server.requests()]
    assert len(queries) == 14  # 13 pages of up to 100, then "Invalid page."
    assert all(q["sort"] == "name" and q["per_page"] == "1000" for q in queries)


def test_an_empty_page_ends_the_listing(server: ScriptServer) -> None:
    server.script = lambda seen: Reply(200, [] if seen.query["page"] == "2" else [{"uuid": "a"}])

    async def main() -> int:
        async with SegmentsClient(server.url, API_KEY) as c:
            return len([s async for s in c.iter_samples("o/d", per_page=5)])

    assert asyncio.run(main()) == 1
    assert len(server.requests()) == 2


@pytest.mark.parametrize(("fail_above", "cap"), [(300, None), (120, None), (100, 50)])
def test_a_502_halves_the_page_and_goes_on_from_the_same_sample(
    server: ScriptServer, fail_above: int, cap: int | None
) -> None:
    server.script = listing(cap=cap, fail_above=fail_above)
    assert names(server.url) == NAMES
    sizes = [int(s.query["per_page"]) for s in server.requests()]
    # Halved on each 502 (1000, 500, 250, ...), never grown again, and the whole
    # list arrived exactly once: the pages went on from the right sample.
    assert sizes[:3] == [1000, 500, 250]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-1] <= fail_above


def test_a_502_at_the_floor_fails_as_before(server: ScriptServer) -> None:
    server.script = lambda seen: Reply(502, {"detail": "Bad gateway"})
    with pytest.raises(ApiError) as info:
        names(server.url, per_page=40)
    assert info.value.status == 502
    sizes = [int(s.query["per_page"]) for s in server.requests()]
    assert sizes[:3] == [40, 20, 10]
    assert set(sizes[3:]) == {10}


def test_a_2xx_saying_throttled_is_a_429(server: ScriptServer) -> None:
    throttled = {"detail": "Request was throttled. Expected available in 1 seconds."}
    server.script = lambda seen: Reply(200, throttled, headers={"Retry-After": "0"})

    async def put() -> None:
        async with SegmentsClient(server.url, API_KEY) as c:
            await c.put_label("u1", "ground-truth", {"attributes": {}})

    with pytest.raises(ApiError) as info:
        asyncio.run(put())
    assert info.value.status == 429
    assert "throttled" in info.value.detail


def test_a_label_mentioning_throttling_is_still_a_label(server: ScriptServer) -> None:
    label = {
        "attributes": {"image_attributes": {"note": "Request was throttled"}},
        "updated_at": "2026-02-03T04:05:06.000007Z",
    }
    server.script = lambda seen: Reply(201, label)

    async def put() -> tuple[int, str | None]:
        async with SegmentsClient(server.url, API_KEY) as c:
            return await c.put_label("u1", "ground-truth", b"{}")

    assert asyncio.run(put()) == (201, "2026-02-03T04:05:06.000007Z")

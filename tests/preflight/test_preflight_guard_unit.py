"""The Guard against a scriptable server: refresh filters and fallbacks, failures
that keep the last snapshot, and when the journal is confirmed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from enginekit import API_KEY, Reply, ScriptServer, Seen

from upload_preds.client import SegmentsClient
from upload_preds.journal import Entry
from upload_preds.preflight import Guard

T = TypeVar("T")
STAMP = "2026-03-04T05:06:07.000008Z"


def sample(uuid: str, status: str | None, stamp: str | None = STAMP) -> dict[str, Any]:
    label = (
        {"label_status": "UNLABELED", "updated_at": None}
        if status is None
        else {"label_status": status, "updated_at": stamp, "score": None}
    )
    return {"uuid": uuid, "name": uuid, "label": label}


def pages(samples: list[dict[str, Any]]) -> Callable[[Seen], Reply]:
    def script(seen: Seen) -> Reply:
        if seen.query.get("page") != "1":
            return Reply(404, {"detail": "Invalid page."})
        wanted = seen.query.get("label_status")
        if wanted:
            keep = set(wanted.split(","))
            return Reply(200, [s for s in samples if s["label"]["label_status"] in keep])
        return Reply(200, samples)

    return script


def with_guard(url: str, fn: Callable[[Guard], Awaitable[T]]) -> T:
    async def main() -> T:
        async with SegmentsClient(url, API_KEY, retries=0) as client:
            return await fn(Guard(client, "o/d"))

    return asyncio.run(main())


def test_refresh_adds_new_work_and_survives_a_failing_server(server: ScriptServer) -> None:
    listed = [sample("a", "LABELED"), sample("b", "PRELABELED"), sample("c", None)]
    server.script = pages(listed)

    async def flow(guard: Guard) -> tuple[bool, bool, bool, int]:
        assert await guard.snapshot("gt", keep_labels=False) == 1
        listed[1] = sample("b", "REVIEWING_IN_PROGRESS")
        await guard.refresh()
        b_now = guard.protected("b", "gt")
        server.script = lambda seen: Reply(503, {"detail": "down"})
        await guard.refresh()  # fails: the last snapshot stays
        return guard.protected("a", "gt"), b_now, guard.protected("c", "gt"), guard.refreshes

    a, b, c, refreshes = with_guard(server.url, flow)
    assert (a, b, c, refreshes) == (True, True, False, 2)
    filtered = [s.query["label_status"] for s in server.requests() if "label_status" in s.query]
    asked = filtered[0].split(",")
    assert "LABELED" in asked
    assert "PRELABELED" not in asked


def test_a_server_rejecting_the_filter_gets_the_whole_listing(server: ScriptServer) -> None:
    listed = [sample("a", "PRELABELED")]

    def script(seen: Seen) -> Reply:
        if "label_status" in seen.query:
            return Reply(400, {"label_status": ["'VERIFIED' is not a label status."]})
        return pages(listed)(seen)

    server.script = script

    async def flow(guard: Guard) -> tuple[bool, int]:
        await guard.snapshot("gt", keep_labels=False)
        listed[0] = sample("a", "SOME_NEW_STATUS")
        await guard.refresh()
        return guard.protected("a", "gt"), guard.refresh_failures

    assert with_guard(server.url, flow) == (True, 0)


def test_confirms_only_a_label_unchanged_since_we_wrote_it(server: ScriptServer) -> None:
    server.script = pages(
        [
            sample("same", "PRELABELED"),
            sample("edited", "PRELABELED", "2026-03-04T09:00:00.000000Z"),
            sample("promoted", "LABELED"),
            sample("gone", None),
        ]
    )
    before = time.time() - 60

    def ours(status: str = "PRELABELED", stamp: str | None = STAMP) -> Entry:
        return Entry(b"d" * 16, before, status, stamp)

    async def flow(guard: Guard) -> dict[str, bool]:
        await guard.snapshot("gt", keep_labels=True)
        return {
            "same": guard.confirms("same", "gt", ours()),
            "edited": guard.confirms("edited", "gt", ours()),
            "promoted": guard.confirms("promoted", "gt", ours()),
            "gone": guard.confirms("gone", "gt", ours()),
            "no stamp on record": guard.confirms("edited", "gt", ours(stamp=None)),
            "written this run": guard.confirms(
                "gone", "gt", Entry(b"d" * 16, time.time() + 1, "PRELABELED", None)
            ),
            "label set not listed": guard.confirms("same", "other", ours()),
        }

    assert with_guard(server.url, flow) == {
        "same": True,
        "edited": False,
        "promoted": False,
        "gone": False,
        "no stamp on record": True,
        "written this run": True,
        "label set not listed": False,
    }

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


def test_a_status_first_seen_mid_run_is_caught_by_an_unfiltered_refresh(
    server: ScriptServer,
) -> None:
    # The server filters honestly: a status the filter does not name never shows.
    listed = [sample("a", "PRELABELED"), sample("b", "PRELABELED")]
    server.script = pages(listed)

    async def flow(guard: Guard) -> list[bool]:
        await guard.snapshot("gt", keep_labels=False)
        listed[0] = sample("a", "SOME_NEW_STATUS")  # the platform added it mid-run
        seen = []
        for _ in range(guard.full_every):
            await guard.refresh()
            seen.append(guard.protected("a", "gt"))
        listed[1] = sample("b", "ANOTHER_NEW_STATUS")
        await guard.refresh(final=True)  # the last refresh before the last batch
        seen.append(guard.protected("b", "gt"))
        await guard.refresh()  # the new status joined the filter
        return seen

    seen = with_guard(server.url, flow)
    assert seen == [False] * 4 + [True, True]
    last = [s.query.get("label_status", "") for s in server.requests()][-1]
    assert "SOME_NEW_STATUS" in last.split(",")


def test_confirms_from_label_reads(server: ScriptServer) -> None:
    labels = {
        "same": {"label_status": "PRELABELED", "updated_at": STAMP},
        "edited": {"label_status": "PRELABELED", "updated_at": "2026-03-04T09:00:00.000000Z"},
        "promoted": {"label_status": "LABELED", "updated_at": STAMP},
    }

    def script(seen: Seen) -> Reply:
        uuid = seen.path.split("/")[2]
        if uuid in labels:
            return Reply(200, {"sample_uuid": uuid, **labels[uuid]})
        return Reply(404, {"detail": "Not found."})

    server.script = script
    before = time.time() - 60
    ours = Entry(b"d" * 16, before, "PRELABELED", STAMP)

    async def main() -> tuple[dict[str, bool], bool]:
        async with SegmentsClient(server.url, API_KEY, retries=0) as client:
            guard = Guard(client, "o/d", samples=[*labels, "gone"])
            await guard.snapshot("gt", keep_labels=True)
            confirmed = {u: guard.confirms(u, "gt", ours) for u in [*labels, "gone"]}
            return confirmed, guard.protected("promoted", "gt")

    confirmed, promoted = asyncio.run(main())
    assert confirmed == {"same": True, "edited": False, "promoted": False, "gone": False}
    assert promoted
    assert all(s.path.startswith("/labels/") for s in server.requests())

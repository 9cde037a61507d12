"""Many reads at once (the guard's label reads) by bounded workers, paced by a shared
pacer that learns from 429s; a missing label is None. Against a scriptable server."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from enginekit import API_KEY, Reply, ScriptServer, Seen

from upload_preds.client import SegmentsClient
from upload_preds.fanout import each
from upload_preds.ratecontrol import Pacer

UUIDS = [f"s-{i:03d}" for i in range(60)]


def labels_with_429s(every: int) -> Any:
    """Label reads: every ``every``-th request is throttled (Retry-After: 0); samples
    whose number ends in 7 have no label (404)."""
    count = [0]
    lock = threading.Lock()

    def script(seen: Seen) -> Reply:
        with lock:
            count[0] += 1
            n = count[0]
        if n % every == 0:
            return Reply(429, {"detail": "Request was throttled."}, {"Retry-After": "0"})
        uuid = seen.path.split("/")[2]
        if uuid.endswith("7"):
            return Reply(404, {"detail": "Not found."})
        return Reply(200, {"sample_uuid": uuid, "label_status": "LABELED", "updated_at": "t"})

    return script


def test_reads_by_bounded_workers_slow_down_together_on_429(server: ScriptServer) -> None:
    server.script = labels_with_429s(every=10)
    pacer = Pacer()
    found: dict[str, str | None] = {}

    async def main() -> None:
        async with SegmentsClient(server.url, API_KEY, concurrency=8, pacer=pacer) as client:

            async def read(uuid: str) -> None:
                label = await client.find_label(uuid, "ground-truth")
                found[uuid] = None if label is None else str(label["label_status"])

            await each(iter(UUIDS), read, workers=4)

    asyncio.run(main())
    assert found == {u: (None if u.endswith("7") else "LABELED") for u in UUIDS}
    throttled = sum(1 for s in server.seen if s.path.startswith("/labels/")) - len(UUIDS)
    assert throttled >= 6
    assert pacer.throttle_events == throttled  # every 429 reached the shared pacer
    assert pacer.rate is not None  # and it now paces every read
    assert server.max_in_flight <= 4


def test_a_failing_read_stops_the_other_workers(server: ScriptServer) -> None:
    def script(seen: Seen) -> Reply:
        if seen.path.split("/")[2] == "s-005":
            return Reply(403, {"detail": "You do not have permission."})
        return Reply(200, {"label_status": "PRELABELED"}, delay=0.05)

    server.script = script

    async def main() -> BaseException | None:
        async with SegmentsClient(server.url, API_KEY, retries=0) as client:

            async def read(uuid: str) -> None:
                await client.find_label(uuid, "ground-truth")

            try:
                await each(UUIDS, read, workers=2)
            except Exception as exc:  # the ApiError of s-005
                return exc
            return None

    error = asyncio.run(main())
    assert error is not None
    assert "403" in str(error)
    assert len(server.seen) < len(UUIDS)  # the rest were never asked for

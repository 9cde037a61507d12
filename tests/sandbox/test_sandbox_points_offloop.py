"""A large point cloud is parsed off the sandbox's event loop.

The first view of a large ASCII ``.pcd`` on the review page parses the whole
file. Done on the event loop, that stalls every other request for as long as
the parse takes; done in a worker thread (in chunks short enough to let the
loop take the GIL back), small requests keep being answered meanwhile.

The test sends the large request, then small ones (``GET /_sandbox/stats``,
answered on the loop) one after the other until the large one is answered.
No absolute time is asserted: the slowest small answer is compared with the
large request's own duration, both measured in this run. Before the change
the small request waiting behind the parse took about as long as the parse
(ratio near 1); now it takes a small fraction of it.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
from sequencekit import cloud, write_pcd

from upload_preds.sandbox import start_sandbox
from upload_preds.sandbox.pointclouds import HEADER

POINTS = 300_000  # a large scan: its parse takes long against a small request
KEY = "sk-offloop"


def test_small_requests_are_answered_while_a_large_scan_is_parsed(tmp_path: Path) -> None:
    write_pcd(tmp_path / "big.pcd", cloud(4, POINTS), binary=False)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"datasets": []}))
    big: dict[str, float | int] = {}

    with start_sandbox(data=manifest, api_key=KEY) as sb:
        headers = {"Authorization": f"APIKey {KEY}"}
        with httpx.Client(base_url=sb.url, headers=headers, timeout=60) as small:
            assert small.get("/_sandbox/stats").status_code == 200  # connected, warm

            def view_big() -> None:
                with httpx.Client(base_url=sb.url, timeout=60) as c:
                    t0 = time.perf_counter()
                    r = c.get("/_review/points/big.pcd")
                    big["seconds"] = time.perf_counter() - t0
                    big["status"] = r.status_code
                    big["total"] = HEADER.unpack_from(r.content)[0]

            worker = threading.Thread(target=view_big)
            started = time.perf_counter()
            worker.start()
            latencies: list[float] = []
            while worker.is_alive():
                t0 = time.perf_counter()
                assert small.get("/_sandbox/stats").status_code == 200
                latencies.append(time.perf_counter() - t0)
            worker.join()
            answered_in = time.perf_counter() - started

    assert big["status"] == 200
    assert big["total"] == POINTS
    assert len(latencies) >= 3, (latencies, answered_in)
    # The slowest small answer against the large request's duration (one run).
    ratio = max(latencies) / float(big["seconds"])
    assert ratio < 0.5, (ratio, latencies, big)

"""Test kit for the guard and journal tests: a sandbox, a page-capping proxy, the CLI.

* :func:`manifest` builds a vector dataset ``test/guard`` of ``n`` samples
  whose ground-truth labels are seeded with the statuses given.
* :class:`CappingProxy` is a small aiohttp server on a real socket, in a
  background thread (``tests/threadserver.py``), in front of a real sandbox: it forwards every request
  unchanged, except that a sample listing asking for more than ``max_page``
  samples gets ``max_page`` (as a platform that caps ``per_page`` does), a
  listing asking for more than ``fail_above`` answers 502 (a gateway that
  gives up on large pages), and ``rename`` maps label statuses in listing
  and label answers (to play a status the platform adds later). It counts
  the listing requests and the page sizes asked for, and the label reads
  (``GET /labels/{uuid}/{labelset}/``) by sample uuid. ``fail_from``: the
  listing requests from that one on (counting from 1) answer 503.
* :class:`Cli` (from ``tests/clikit.py``) runs ``python -m upload_preds`` as a
  subprocess (real exit codes and stderr) against a URL, with its own journal
  file.

The sandbox caps pages itself too (``start_sandbox(max_page_size=N)``); the
proxy is what plays a gateway's 502s and a status the sandbox does not know.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from manifestkit import dataset_manifest, seeded_samples
from threadserver import ThreadServer

ROOT = Path(__file__).resolve().parents[2]
DATASET = "test/guard"
NS = uuid.UUID("6b0f3c0e-8d7c-4f5e-9c5a-3f1f2f6d7e11")
CATEGORIES = [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}]


def sample_uuid(i: int) -> str:
    return str(uuid.uuid5(NS, f"guard-{i}"))


def sample_name(i: int) -> str:
    return f"img_{i:05d}.jpg"


def manifest(n: int, seeded: dict[int, str] | None = None) -> dict[str, Any]:
    """``n`` samples; ``seeded[i]`` is the status of sample i's ground-truth label."""
    samples = seeded_samples(n, sample_uuid, sample_name, seeded)
    return dataset_manifest(
        DATASET, "vector", samples, categories=CATEGORIES, labelsets=("ground-truth", "predictions")
    )


def prediction(i: int, *, by_name: bool = False, x: float = 10.0) -> dict[str, Any]:
    row: dict[str, Any] = {
        "annotations": [{"category": "car", "bbox": [x, 20.0, x + 30.0, 60.0]}],
        "score": 0.8,
    }
    if by_name:
        row["sample_name"] = sample_name(i)
    else:
        row["sample_uuid"] = sample_uuid(i)
    return row


@dataclass
class CappingProxy:
    """A forwarding proxy in front of ``target`` (see the module docstring)."""

    target: str
    max_page: int | None = None
    fail_above: int | None = None
    rename: dict[str, str] = field(default_factory=dict)
    fail_from: int | None = None
    listings: list[int] = field(default_factory=list)  # per_page asked, per listing request
    queries: list[dict[str, str]] = field(default_factory=list)  # each listing's query
    label_reads: list[str] = field(default_factory=list)  # sample uuid of each label GET
    url: str = ""

    def __post_init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._server = ThreadServer(self._handle, on_start=self._open, on_stop=self._close)
        self.url = self._server.url

    async def _open(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        query = dict(request.query)
        listing = request.method == "GET" and request.path.endswith("/samples/")
        label_read = request.method == "GET" and request.path.startswith("/labels/")
        if label_read:
            self.label_reads.append(request.path.split("/")[2])
        if listing:
            asked = int(query.get("per_page", "1000"))
            self.listings.append(asked)
            self.queries.append(dict(query))
            if self.fail_from is not None and len(self.queries) >= self.fail_from:
                return web.json_response({"detail": "Service unavailable."}, status=503)
            if self.fail_above is not None and asked > self.fail_above:
                return web.json_response({"detail": "Bad gateway."}, status=502)
            if self.max_page is not None:
                query["per_page"] = str(min(asked, self.max_page))
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        async with self._session.request(
            request.method,
            self.target.rstrip("/") + request.path,
            params=query,
            data=await request.read(),
            headers=headers,
            allow_redirects=False,
        ) as resp:
            body = await resp.read()
            status = resp.status
            out_headers = {
                k: v
                for k, v in resp.headers.items()
                if k.lower() in ("content-type", "content-encoding", "retry-after")
            }
        if (listing or label_read) and self.rename and status == 200:
            answer = orjson.loads(body)
            labels = [s.get("label") for s in answer] if listing else [answer]
            for label in labels:
                if isinstance(label, dict) and label.get("label_status") in self.rename:
                    label["label_status"] = self.rename[label["label_status"]]
            body = orjson.dumps(answer)
            out_headers.pop("Content-Encoding", None)
        return web.Response(status=status, body=body, headers=out_headers)

    def stop(self) -> None:
        self._server.stop()

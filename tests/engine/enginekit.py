"""Test kit for the engine tests: a scriptable HTTP server on a real socket, job factories.

:class:`ScriptServer` is a small aiohttp application running on its own event
loop in a background thread, bound to 127.0.0.1 on a free port
(``tests/threadserver.py``). Every request
is recorded as a :class:`Seen` (method, path, query, headers, decoded body,
arrival time on the server's clock, how many requests were in flight at
arrival). What it answers is decided per request by ``server.script``, a
function from :class:`Seen` to :class:`Reply` (status, JSON body, headers,
delay, or ``drop`` to close the connection without an answer); the default
answers 200 to everything. Tests assert on what the server observed, never
on the client's internals.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from threadserver import ThreadServer
from upload_preds.records import LabelJob, Location

API_KEY = "sk-test-0123456789-SECRET-KEY-do-not-leak"


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    text: str | None = None


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_body: bytes
    body: Any
    t: float
    in_flight: int

    @property
    def label_key(self) -> str:
        """``uuid/labelset`` for a label PUT path."""
        parts = self.path.strip("/").split("/")
        return "/".join(parts[1:3])


Script = Callable[[Seen], Reply]


def ok_script(seen: Seen) -> Reply:
    if seen.method == "PUT":
        return Reply(200, {"sample_uuid": seen.path.split("/")[2], "label_status": "PRELABELED"})
    return Reply(200, {"ok": True})


class ScriptServer:
    """A scriptable server; ``url`` ends with a slash like an API base URL."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.script: Script = ok_script
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadServer(self._handle)
        self.url = self._server.url

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            raw = await request.read()  # aiohttp already undid Content-Encoding: gzip
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                body = None
            seen = Seen(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                raw,
                body,
                time.monotonic(),
                self.in_flight,
            )
            with self._lock:
                self.seen.append(seen)
            reply = self.script(seen)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.drop:
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
            if reply.text is not None:
                return web.Response(status=reply.status, text=reply.text, headers=reply.headers)
            return web.Response(
                status=reply.status,
                body=orjson.dumps(reply.json),
                content_type="application/json",
                headers=reply.headers,
            )
        finally:
            self.in_flight -= 1

    def requests(self, method: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if method is None or s.method == method]

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture
def server() -> Iterator[ScriptServer]:
    """A :class:`ScriptServer` for one test (conftests import this fixture)."""
    srv = ScriptServer()
    try:
        yield srv
    finally:
        srv.stop()


def per_label(replies: dict[str, list[Reply]], default: Script = ok_script) -> Script:
    """A script answering the n-th request for a label with ``replies[uuid][n]``."""
    counters: dict[str, int] = {}
    lock = threading.Lock()

    def script(seen: Seen) -> Reply:
        uuid = seen.label_key.split("/")[0]
        with lock:
            n = counters.get(uuid, 0)
            counters[uuid] = n + 1
        todo = replies.get(uuid, [])
        return todo[n] if n < len(todo) else default(seen)

    return script


def make_jobs(
    n: int, *, labelset: str = "predictions", prefix: str = "s", size: int = 2
) -> list[LabelJob]:
    """``n`` vector label jobs for samples ``{prefix}0000..``; ``size`` boxes each."""
    jobs = []
    for i in range(n):
        annotations = [
            {
                "id": k + 1,
                "category_id": 1,
                "type": "bbox",
                "points": [[10.0 + k, 20.0], [30.5 + k, 40.25]],
            }
            for k in range(size)
        ]
        jobs.append(
            LabelJob(
                sample_uuid=f"{prefix}{i:04d}",
                sample_name=None,
                labelset=labelset,
                label_status="PRELABELED",
                attributes={"format_version": "0.1", "annotations": annotations},
                score=0.5,
                locs=(Location("preds.jsonl", i + 1),),
            )
        )
    return jobs


def gunzip_if(raw: bytes, encoding: str | None) -> bytes:
    return gzip.decompress(raw) if encoding == "gzip" else raw

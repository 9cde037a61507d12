"""The sandbox as an ASGI application: in what order a request is answered, and when.

:class:`Sandbox` holds the running state (the :class:`~.store.Store`, the API
key, the fault injector, the request counters) and the :class:`~.routing.Router`
filled by the route classes (:mod:`.labels`, :mod:`.datasets`, :mod:`.assets`,
:mod:`.review`, and the control routes here). uvicorn (:mod:`.transport`) calls
it once per request. Everything runs on one event-loop thread, so handlers call
the store synchronously; nothing here is thread-safe, and the in-process API
(:mod:`.server`) hops onto the loop to change faults or read stats.

Handlers are plain functions ``Request -> Response``. *When* the answer leaves
is decided by :meth:`Sandbox.__call__`, in this order for API routes:

1. the Host header: only the names of the bound address are answered (400
   otherwise), so a web page that rebinds its DNS name to 127.0.0.1 cannot
   read the sandbox;
2. the fault decision: throttle → 429, error → 5xx, drop → reset the
   connection without an answer (before the handler, or after it, so the
   write happened but the client cannot know);
3. the API key check (401), *before* the body is read: a client without the
   key never makes the sandbox read or inflate anything;
4. the body, read under the route's cap and decompressed (:mod:`.bodies`;
   413 past the cap), then the handler;
5. group commit: a request whose handler wrote waits; the first one in a loop
   iteration schedules one COMMIT with ``call_soon``, and every request
   waiting for it is released after it. A client never sees an answer for a
   write that is not committed;
6. the added latency: the answer leaves no sooner than ``--latency-ms`` (plus
   jitter) after the request *arrived*, so the handler's own time is inside
   the delay instead of added to it, and 64 clients that wait together are
   not served as one serial burst;
7. the request counter, by method, route pattern and status.

Control routes under ``/_sandbox/`` need the key but see no faults and are not
counted; the asset storage under ``/_storage/`` needs no key, like the
platform's S3 URLs. The review page (:mod:`.review`) is treated the same way:
``/`` and its files and images need no key, its JSON API under
``/_review/api/`` needs the key; neither sees faults or is counted (the page
is for people, the counters for benchmarks).

A handler that raises is a bug: the client gets 500 ``{"detail": "A server
error occurred."}``, the traceback is logged, and ``stats()["server_errors"]``
counts it (tests expect 0). Bodies and status codes follow the platform
(Django REST framework): ``{"detail": "..."}`` for 401/404/429, field-keyed
lists for 400.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from upload_preds.sandbox.assets import STORAGE_PREFIX, AssetRoutes
from upload_preds.sandbox.bodies import BadBody, BodyTooLarge, Disconnected, read_body
from upload_preds.sandbox.datasets import DatasetRoutes
from upload_preds.sandbox.faults import (
    Action,
    FaultInjector,
    Faults,
    gateway_body,
    throttled_detail,
)
from upload_preds.sandbox.labels import LabelRoutes
from upload_preds.sandbox.review import API_PREFIX, Review
from upload_preds.sandbox.routing import (
    SMALL_BODY,
    BodyError,
    Receive,
    Request,
    Response,
    Router,
    Scope,
    Send,
    Target,
    bad_request,
    error_response,
    json_response,
    read_json,
    send_response,
)
from upload_preds.sandbox.store import Store
from upload_preds.sandbox.transport import ABORT, ARRIVED

CONTROL_PREFIX = "/_sandbox/"

log = logging.getLogger(__name__)


class Sandbox:
    """The running sandbox: store, key, faults, counters and routes; the HTTP server's app."""

    def __init__(
        self,
        store: Store,
        api_key: str,
        faults: Faults | None = None,
        seed: int | None = None,
        media_root: Path | None = None,
        max_page_size: int | None = None,
    ) -> None:
        self.store = store
        # Relative sample image URLs are served from here (the manifest's folder).
        self.review = Review(store, media_root)
        self._auth = f"APIKey {api_key}".encode()
        self.faults = Faults()
        self.seed = seed
        self._injector: FaultInjector | None = None
        self.set_faults(faults or Faults(), seed)
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.started = time.monotonic()
        # Requests waiting for the next group commit, told whether it succeeded.
        self._uncommitted: list[asyncio.Future[bool]] = []
        #: Host headers answered (None: any); set by :meth:`bind` once the port is known.
        self._hosts: set[str] | None = {"127.0.0.1", "localhost", "[::1]"}
        #: Requests whose handler raised (answered 500); tests assert it stays 0.
        self.errors = 0
        self.max_page_size = max_page_size
        self.router = self._make_router()

    def set_faults(self, faults: Faults, seed: int | None = None) -> None:
        """Replace the fault setting; the token bucket and random stream restart."""
        self.faults = faults
        self.seed = seed
        self._injector = FaultInjector(faults, seed) if faults.active else None

    # -- routing and the order of things --------------------------------------------------

    def _make_router(self) -> Router:
        r = Router()
        # The label routes first: they are what an upload calls, thousands of times.
        LabelRoutes(self.store).add_routes(r)
        DatasetRoutes(self.store, self.max_page_size).add_routes(r)
        AssetRoutes(self.store).add_routes(r)
        r.add("GET", CONTROL_PREFIX + "stats", self.get_stats)
        r.add("DELETE", CONTROL_PREFIX + "stats", self.reset_stats)
        r.add("GET", CONTROL_PREFIX + "faults", self.get_faults)
        r.add("PUT", CONTROL_PREFIX + "faults", self.put_faults, SMALL_BODY)
        self.review.add_routes(r)
        return r

    # -- answering one request (see the module docstring for the order) -----------------

    def bind(self, host: str, port: int) -> None:
        """Answer only to the names of the address the server was bound to (DNS rebinding)."""
        names = {"127.0.0.1", "localhost", "[::1]"}
        if host in ("0.0.0.0", "::", ""):
            self._hosts = None  # bound to every address: no list of names can be complete
            return
        names.add(f"[{host}]" if ":" in host else host)
        # A bare name is what a client writes for port 80, and what a hand-written
        # client may send; a rebinding page always sends its own (foreign) name.
        self._hosts = names | {f"{n}:{port}" for n in names}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; nothing else is served
        loop = asyncio.get_running_loop()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request = Request(
            scope["method"],
            scope["path"],
            scope["raw_path"].decode("latin-1"),
            scope["query_string"].decode("latin-1"),
            headers,
            scope.get("extensions", {}).get(ARRIVED) or loop.time(),
        )
        try:
            await self._answer(request, scope, receive, send)
        except Disconnected:
            return
        except asyncio.CancelledError:
            # Cancelled by uvicorn past the shutdown grace: no answer at all, as if the
            # server went down (uvicorn would send a 500 into the reset connection).
            scope["extensions"][ABORT]()
            raise
        except Exception:
            # The handlers answer their own errors; this is a bug, not the client's.
            self.errors += 1
            log.exception("error answering %s %s", request.method, request.route)
            await send_response(send, error_response(500, "A server error occurred."), True)

    async def _answer(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        hosts = self._hosts
        if hosts is not None and request.headers.get("host", "").lower() not in hosts:
            resp = error_response(
                400, "Unknown Host header: this sandbox answers only to its own address."
            )
            await send_response(send, resp, close=True)
            return
        target = self.router.resolve(request)
        path = request.path
        if path.startswith(STORAGE_PREFIX) or Review.public(path):
            await self._plain(request, target, receive, send)
            return
        if path.startswith((CONTROL_PREFIX, API_PREFIX)):
            if not self._authorized(request):
                await send_response(send, self._unauthorized())
            else:
                await self._plain(request, target, receive, send)
            return
        injector = self._injector
        action = Action.PASS
        due = 0.0
        if injector is not None:
            d = injector.decide()
            due = request.arrived + d.delay_s
            action = d.action
            if action is Action.THROTTLE:
                resp = error_response(429, throttled_detail(d.retry_after_s))
                resp.headers["Retry-After"] = str(d.retry_after_s)
                await self._deliver(request, resp, due, action, scope, receive, send)
                return
            if action is Action.ERROR:
                resp = Response.text(gateway_body(d.status), d.status, "text/html")
                await self._deliver(request, resp, due, action, scope, receive, send)
                return
            if action is Action.DROP_BEFORE:
                await self._deliver(request, Response(), due, action, scope, receive, send)
                return
        if not self._authorized(request):
            resp = self._unauthorized()
        else:
            resp = await self._call(request, target, receive)
        if self.store.pending:
            # Group commit: one COMMIT for every write of this loop iteration, and
            # no answer leaves before the COMMIT of its write.
            waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            if not self._uncommitted:
                asyncio.get_running_loop().call_soon(self._commit_now)
            self._uncommitted.append(waiter)
            if not await waiter:
                resp, action = error_response(500, "A server error occurred."), Action.PASS
        await self._deliver(request, resp, due, action, scope, receive, send)

    async def _call(
        self, request: Request, target: Target | Response, receive: Receive
    ) -> Response:
        """Read the body under the route's cap, then run the handler."""
        if isinstance(target, Response):  # no route, or a method the route does not have
            return target
        try:
            request.body = await read_body(receive, request.headers, target.max_body)
        except BodyTooLarge:
            resp = error_response(413, "Request body too large.")
            # The rest of the body is not wanted: uvicorn closes after this answer.
            resp.headers["Connection"] = "close"
            return resp
        except BadBody as e:
            return error_response(400, f"{e}.")
        try:
            answer = target.handler(request)
            # A handler with slow work answers later (off the loop, see routing.Handler).
            return answer if isinstance(answer, Response) else await answer
        except BodyError as e:
            return e.response

    async def _plain(
        self, request: Request, target: Target | Response, receive: Receive, send: Send
    ) -> None:
        resp = await self._call(request, target, receive)
        await send_response(send, resp)

    def _commit_now(self) -> None:
        waiting, self._uncommitted = self._uncommitted, []
        ok = True
        try:
            self.store.commit()
        except sqlite3.Error:
            # Nothing of this group is stored; the clients see a 500 and retry.
            self.store.rollback()
            ok = False
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(ok)

    async def _deliver(
        self,
        request: Request,
        resp: Response,
        due: float,
        action: Action,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Send ``resp`` (or drop the connection) at loop time ``due``, or now if that has passed."""
        delay = due - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        if action is Action.DROP_BEFORE or action is Action.DROP_AFTER:
            what = "dropped" if action is Action.DROP_BEFORE else "dropped-after-write"
            self.counts[(request.method, request.route, what)] += 1
            scope["extensions"][ABORT]()
            # Wait for uvicorn to see the connection gone, so it adds no answer of its own.
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        self.counts[(request.method, request.route, str(resp.status))] += 1
        await send_response(send, resp)

    def _authorized(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode("latin-1"), self._auth)

    @staticmethod
    def _unauthorized() -> Response:
        return error_response(401, "Invalid token.")

    # -- routes: control -------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Request counts per method, route and status; labels per label set and status."""
        requests: dict[str, dict[str, dict[str, int]]] = {}
        by_status: Counter[str] = Counter()
        for (method, route, status), n in sorted(self.counts.items()):
            requests.setdefault(method, {}).setdefault(route, {})[status] = n
            by_status[status] += n
        return {
            "requests": requests,
            "by_status": dict(sorted(by_status.items())),
            "total_requests": sum(by_status.values()),
            "labels": self.store.label_counts(),
            "faults": self.faults.as_dict(),
            "seed": self.seed,
            "uptime_s": round(time.monotonic() - self.started, 3),
            # Requests whose handler raised (a bug, answered 500); tests expect 0.
            "server_errors": self.errors,
        }

    def get_stats(self, request: Request) -> Response:
        return json_response(self.stats())

    def reset_stats(self, request: Request) -> Response:
        self.counts.clear()
        return Response(status=204, content_type=None)

    def get_faults(self, request: Request) -> Response:
        return json_response({**self.faults.as_dict(), "seed": self.seed})

    def put_faults(self, request: Request) -> Response:
        body = read_json(request)
        if not isinstance(body, dict):
            return bad_request({"non_field_errors": ["Expected an object of fault settings."]})
        known = set(Faults.__dataclass_fields__) | {"seed"}
        unknown = sorted(set(body) - known)
        if unknown:
            return bad_request({k: ["Unknown fault setting."] for k in unknown})
        seed = body.pop("seed", None)
        try:
            for k, v in body.items():
                if v is not None and not isinstance(v, (int, float)):
                    raise ValueError(f"{k} must be a number")
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"{k} must be finite")
            faults = Faults(**body)
        except (TypeError, ValueError) as e:
            return bad_request({"non_field_errors": [str(e)]})
        if seed is not None and type(seed) is not int:
            return bad_request({"seed": ["An integer is required."]})
        self.set_faults(faults, seed)
        return json_response({**faults.as_dict(), "seed": seed})

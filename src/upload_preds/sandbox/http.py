"""A small HTTP/1.1 server for the sandbox: ``asyncio.Protocol`` plus httptools (llhttp).

Why not aiohttp.web, which the sandbox used first: on this project's 2-core
machines aiohttp.web spent about 220 µs of server CPU on every request before
any route ran, so the sandbox (route, validation, SQLite, JSON on top) managed
about 2,100 label PUTs/s, below the 3,000/s that issue 3 asks of it. The same
load against this module's protocol with a constant answer costs 87 µs a
request (34 µs on uvloop). ``bench/bench_sandbox.py`` measures both.

How a request goes through:

1. :class:`HttpProtocol` (one per connection) feeds received bytes to
   ``httptools.HttpRequestParser``, which calls back with the URL, each
   header, body pieces (chunked encoding already undone) and the end of the
   message. Header names are lower-cased; the body is collected up to
   ``max_body`` bytes (413 past it).
2. At the end of a message the body's ``Content-Encoding`` (gzip, deflate) is
   undone, again bounded by ``max_body``, and a :class:`Request` is handed to
   the application callable. Its arrival time (``loop.time()``) travels with
   it, so the application can answer "50 ms after the request arrived"
   whatever the queue looked like.
3. The application answers by calling :meth:`Request.respond` now or later
   (after a group commit, after an injected delay), or :meth:`Request.abort`
   to drop the connection without an answer. Handlers are plain functions:
   with the whole body already in memory nothing needs to ``await``, and the
   hot path creates no task.
4. Requests on one connection are answered in order: a pipelined request
   waits in a queue until the one before it is answered (reading pauses while
   the queue is long). Keep-alive follows HTTP/1.1 (``Connection: close``, and
   HTTP/1.0 unless it asks to keep alive); a connection with nothing in flight
   for ``keepalive_timeout`` (75 s) is closed. A malformed request gets a 400
   and the connection is closed.

Routing (:class:`Router`) matches the still percent-encoded path, segment
patterns ``{name}`` or ``{name:regex}``, and decodes the captured values, so an
encoded ``/`` stays inside its segment. ``HEAD`` is answered by the ``GET``
route without a body. :func:`parse_multipart` reads ``multipart/form-data``
(the presigned asset upload).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import mimetypes
import re
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import httptools
import orjson

#: The default cap on a request body, before and after decompression.
MAX_BODY = 64 * 1024 * 1024
#: Parsed requests a connection may hold while one is being answered.
MAX_QUEUED = 32
#: The cap on a request's URL and headers together (431 past it, as nginx does at 8-32 KiB).
MAX_HEAD = 64 * 1024
#: Seconds a connection may sit with nothing in flight before it is closed (aiohttp's default).
KEEPALIVE_TIMEOUT = 75.0

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_JSON = "application/json"


class Request:
    """One complete HTTP request, and the way back to its connection.

    ``path`` is percent-decoded; ``raw_path`` is as sent. ``headers`` maps
    lower-cased names to the last value sent. ``match_info`` and ``route`` are
    set by :class:`Router`.
    """

    __slots__ = (
        "_conn",
        "_path",
        "_query",
        "arrived",
        "body",
        "headers",
        "match_info",
        "method",
        "query_string",
        "raw_path",
        "route",
    )

    def __init__(
        self,
        method: str,
        raw_path: str,
        query_string: str,
        headers: dict[str, str],
        body: bytes,
        arrived: float,
        conn: HttpProtocol | None = None,
    ) -> None:
        self.method = method
        self.raw_path = raw_path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.arrived = arrived
        self.match_info: dict[str, str] = {}
        self.route = "(no route)"
        self._conn = conn
        self._query: dict[str, str] | None = None
        self._path: str | None = None

    @property
    def path(self) -> str:
        if self._path is None:
            self._path = unquote(self.raw_path)
        return self._path

    @property
    def query(self) -> dict[str, str]:
        """The query string's parameters; the first value wins when one repeats."""
        if self._query is None:
            q: dict[str, str] = {}
            for k, v in parse_qsl(self.query_string, keep_blank_values=True):
                q.setdefault(k, v)
            self._query = q
        return self._query

    @property
    def origin(self) -> str:
        """``http://host[:port]`` as the client addressed this server."""
        return "http://" + self.headers.get("host", "localhost")

    def respond(self, response: Response) -> None:
        """Send the answer (once); a no-op when the connection is gone."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.answer(self, response)

    def abort(self) -> None:
        """Close the connection without an answer (a dropped request)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()


class Response:
    """A complete answer: status, body bytes, content type and extra headers."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        content_type: str | None = _JSON,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers if headers is not None else {}

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> Response:
        return cls(text.encode(), status, f"{content_type}; charset=utf-8")

    def encode(self, keep_alive: bool, head: bool = False) -> bytes:
        """The bytes on the wire (no body for a HEAD request or a 204/304)."""
        status = self.status
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
            f"Date: {_http_date()}",
            "Server: upload-preds-sandbox",
        ]
        if self.content_type is not None and status not in (204, 304):
            lines.append(f"Content-Type: {self.content_type}")
        if status != 204 and status != 304:
            lines.append(f"Content-Length: {len(self.body)}")
        for k, v in self.headers.items():
            lines.append(f"{k}: {v}")
        if not keep_alive:
            lines.append("Connection: close")
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if head or status in (204, 304) or not self.body:
            return head_bytes
        return head_bytes + self.body


def file_response(path: Path, content_type: str | None = None) -> Response:
    """A file's bytes (the sandbox only serves small files: its page and sample images)."""
    ctype = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "image/svg+xml"):
        ctype += "; charset=utf-8"
    mtime = email.utils.formatdate(path.stat().st_mtime, usegmt=True)
    return Response(path.read_bytes(), 200, ctype, {"Last-Modified": mtime})


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    # Formatted once a second: every answer carries a Date header.
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status)


def error_response(status: int, message: str, **extra: Any) -> Response:
    """``{"detail": message, **extra}``, the platform's shape for protocol-level errors too."""
    return json_response({"detail": message, **extra}, status)


# -- routing ------------------------------------------------------------------------------

Handler = Callable[[Request], Response]

_PARAM = re.compile(r"\{(\w+)(?::([^{}]+))?\}")


@dataclass(slots=True)
class _Route:
    canonical: str
    regex: re.Pattern[str] | None
    handlers: dict[str, Handler]


class Router:
    """Method and path pattern → handler. Static paths by dict, patterns in order added."""

    def __init__(self) -> None:
        self._static: dict[str, _Route] = {}
        self._dynamic: list[_Route] = []
        self._by_canonical: dict[str, _Route] = {}

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        route = self._by_canonical.get(pattern)
        if route is None:
            regex = None
            if _PARAM.search(pattern):
                parts, pos = [], 0
                for m in _PARAM.finditer(pattern):
                    parts.append(re.escape(pattern[pos : m.start()]))
                    parts.append(f"(?P<{m.group(1)}>{m.group(2) or '[^/]+'})")
                    pos = m.end()
                parts.append(re.escape(pattern[pos:]))
                regex = re.compile("".join(parts) + r"\Z")
            route = _Route(pattern, regex, {})
            self._by_canonical[pattern] = route
            if regex is None:
                self._static[pattern] = route
            else:
                self._dynamic.append(route)
        route.handlers[method] = handler

    def resolve(self, request: Request) -> Handler | Response:
        """The handler for ``request`` (setting its ``match_info`` and ``route``), or a 404/405."""
        raw = request.raw_path
        route = self._static.get(raw)
        if route is None:
            for candidate in self._dynamic:
                assert candidate.regex is not None
                m = candidate.regex.match(raw)
                if m is not None:
                    route = candidate
                    request.match_info = {k: unquote(v) for k, v in m.groupdict().items()}
                    break
            else:
                return error_response(404, "Not found.")
        request.route = route.canonical
        method = request.method
        handler = route.handlers.get("GET" if method == "HEAD" else method)
        if handler is None:
            allowed = ", ".join(sorted(route.handlers))
            resp = error_response(405, f'Method "{method}" not allowed.')
            resp.headers["Allow"] = allowed
            return resp
        return handler


# -- bodies ---------------------------------------------------------------------------------


class _HeadTooLarge(Exception):
    """Raised from a parser callback: the URL and headers passed :data:`MAX_HEAD`."""


class BodyTooLarge(Exception):
    """A request body past the cap, before or after decompression."""


def decode_body(body: bytes, encoding: str, limit: int = MAX_BODY) -> bytes:
    """Undo ``Content-Encoding`` (gzip, x-gzip, deflate, identity), at most ``limit`` bytes out.

    Raises :class:`BodyTooLarge` (a decompression bomb stops at the cap) or
    ``ValueError`` for an unknown encoding or corrupt data.
    """
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return body
    if enc in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif enc == "deflate":
        # zlib-wrapped per the RFC; raw deflate is what some clients send.
        wbits = zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS
    else:
        raise ValueError(f"unsupported Content-Encoding {encoding!r}")
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as e:
        raise ValueError(f"the {enc} body is corrupt: {e}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise BodyTooLarge
    if not d.eof:
        raise ValueError(f"the {enc} body is truncated")
    return out


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file field of a multipart form."""

    filename: str
    content_type: str | None
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> dict[str, str | FilePart]:
    """The fields of a ``multipart/form-data`` body (first value wins).

    Raises ``ValueError`` when the content type has no boundary or the body
    does not follow it.
    """
    ctype, params = _header_params(content_type)
    boundary = params.get("boundary")
    if ctype != "multipart/form-data" or not boundary:
        raise ValueError("expected multipart/form-data with a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    # Prefix CRLF so the first delimiter looks like every other one.
    chunks = (b"\r\n" + body).split(b"\r\n" + delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ValueError("the multipart body does not end with its closing boundary")
    fields: dict[str, str | FilePart] = {}
    for chunk in chunks[1:-1]:
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("a multipart part has no blank line after its headers")
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            key, colon, value = line.decode("utf-8", "replace").partition(":")
            if colon:
                headers[key.strip().lower()] = value.strip()
        _, disp = _header_params(headers.get("content-disposition", ""))
        name = disp.get("name")
        if name is None or name in fields:
            continue
        if "filename" in disp:
            fields[name] = FilePart(disp["filename"], headers.get("content-type"), data)
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="a"; filename="b"'`` → ``('form-data', {'name': 'a', 'filename': 'b'})``."""
    main, *rest = value.split(";")
    params: dict[str, str] = {}
    for item in rest:
        k, eq, v = item.strip().partition("=")
        if eq:
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] == '"':
                v = v[1:-1].replace('\\"', '"')
            params[k.strip().lower()] = v
    return main.strip().lower(), params


# -- the connection -----------------------------------------------------------------------------

App = Callable[[Request], None]


class HttpProtocol(asyncio.Protocol):
    """One client connection: parse, hand complete requests to the app in order, write answers."""

    def __init__(self, app: App, server: Server) -> None:
        self._app = app
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        #: Loop time of the last bytes received or answer sent; see Server._sweep.
        self.last_active = self._loop.time()
        self._queue: deque[tuple[Request, bool, Response | None]] = deque()
        self._current: Request | None = None
        self._current_keep_alive = True
        self._reading = True
        self._closing = False
        # The message being parsed.
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._too_large = False
        self._head_size = 0
        # Bytes received since the last complete message, and whether its head is
        # complete: httptools buffers a header line until it ends, so only this
        # bounds the memory of one endless line.
        self._unfinished = 0
        self._in_head = True

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.last_active = self._loop.time()
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._transport = None
        self._queue.clear()
        if self._current is not None:
            # Late answers to this request go nowhere.
            self._current._conn = None
            self._current = None

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self.last_active = self._loop.time()
        self._unfinished += len(data)
        if self._unfinished > self._server.max_body + 2 * MAX_HEAD:
            if self._in_head:
                self._fail(431, "Request header fields too large.")
            else:
                self._fail(413, "Request body too large.")
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "Protocol upgrades are not supported.")  # a no-op when queued
        except httptools.HttpParserError as e:
            if isinstance(e.__context__, _HeadTooLarge):
                self._fail(431, "Request header fields too large.")
            else:
                self._fail(400, f"Bad request: {e}.")

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0
        self._too_large = False
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._grow_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow_head(len(name) + len(value))
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def _grow_head(self, n: int) -> None:
        # llhttp itself sets no limit: without this an endless header would grow memory.
        self._head_size += n
        if self._head_size > MAX_HEAD:
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._headers.get("expect", "").lower() == "100-continue" and self._transport:
            declared = self._headers.get("content-length", "0")
            if declared.isdigit() and int(declared) > self._server.max_body:
                return  # on_message_complete answers 413
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._server.max_body:
            self._too_large = True
            self._body = []
        elif not self._too_large:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._unfinished = 0
        self._in_head = True
        parser = self._parser
        keep_alive = parser.should_keep_alive()
        method = parser.get_method().decode("latin-1")
        url = self._url.decode("latin-1")
        path, _, query = url.partition("?")
        path = path.partition("#")[0]
        if "://" in path:  # absolute-form request target (a proxy request)
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        body = b"".join(self._body) if len(self._body) != 1 else self._body[0]
        request = Request(method, path, query, self._headers, body, self._loop.time(), self)
        self._body = []
        if self._too_large:
            self._enqueue(request, False, error_response(413, "Request body too large."))
            return
        if parser.should_upgrade():
            # httptools raises HttpParserUpgrade after this; the answer is already queued.
            self._enqueue(
                request, False, error_response(400, "Protocol upgrades are not supported.")
            )
            return
        encoding = self._headers.get("content-encoding")
        if encoding is not None and body:
            try:
                request.body = decode_body(body, encoding, self._server.max_body)
            except BodyTooLarge:
                self._enqueue(request, False, error_response(413, "Request body too large."))
                return
            except ValueError as e:
                self._enqueue(request, keep_alive, error_response(400, f"{e}."))
                return
        self._enqueue(request, keep_alive)

    # -- answering, in order

    def _enqueue(self, request: Request, keep_alive: bool, early: Response | None = None) -> None:
        if early is not None:
            # Answered by the protocol itself, but still in turn behind earlier requests.
            request._conn = None
        self._queue.append((request, keep_alive, early))
        if self._current is None:
            self._next()
        elif len(self._queue) >= MAX_QUEUED and self._reading and self._transport:
            self._reading = False
            self._transport.pause_reading()

    def _next(self) -> None:
        while self._current is None and self._queue and not self._closing:
            request, keep_alive, early = self._queue.popleft()
            if early is not None:
                self._write(request, early, keep_alive)
                continue
            self._current = request
            self._current_keep_alive = keep_alive
            try:
                self._app(request)
            except Exception:
                # The app answers its own errors; this is a bug, not the client's.
                self._server.errors += 1
                if self._current is request:
                    request._conn = None
                    self._write(request, error_response(500, "A server error occurred."), False)
        if not self._reading and len(self._queue) < MAX_QUEUED // 2 and self._transport:
            self._reading = True
            self._transport.resume_reading()

    def answer(self, request: Request, response: Response) -> None:
        """Called through :meth:`Request.respond`."""
        if request is not self._current:
            return
        self._write(request, response, self._current_keep_alive)
        if self._current is request:
            self._current = None
            self._next()

    def _write(self, request: Request, response: Response, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        keep_alive = keep_alive and not self._server.closing
        transport.write(response.encode(keep_alive, head=request.method == "HEAD"))
        # The idle time counts from the answer too: a slow answer must not make
        # the connection look idle the moment it is sent.
        self.last_active = self._loop.time()
        if not keep_alive:
            self._closing = True
            self._current = None
            self._queue.clear()
            transport.close()

    @property
    def idle(self) -> bool:
        """No request is being answered or waiting on this connection."""
        return self._current is None and not self._queue

    def abort(self) -> None:
        self._closing = True
        self._current = None
        self._queue.clear()
        if self._transport is not None:
            self._transport.abort()

    def _fail(self, status: int, message: str) -> None:
        transport = self._transport
        if self._closing:
            return  # answered already (an upgrade request) or dropped
        self._closing = True
        if transport is not None:
            if self._current is None:
                transport.write(error_response(status, message).encode(False))
            transport.close()


# -- the server ------------------------------------------------------------------------------------


class Server:
    """A listening socket serving ``app``; :meth:`close` ends every connection."""

    def __init__(
        self, app: App, max_body: int = MAX_BODY, keepalive_timeout: float = KEEPALIVE_TIMEOUT
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.keepalive_timeout = keepalive_timeout
        self.connections: set[HttpProtocol] = set()
        self.closing = False
        #: Requests whose handler raised (answered 500); tests assert it stays 0.
        self.errors = 0
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int, backlog: int = 1024) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpProtocol(self.app, self),
            host,
            port,
            backlog=backlog,
            reuse_address=True,
        )
        self._sweeper = loop.create_task(self._sweep())
        sockname: Any = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    async def _sweep(self) -> None:
        """Close connections idle past ``keepalive_timeout``.

        One sweep every few seconds instead of a timer per request: the hot
        path only stamps ``last_active``. A client that stalls halfway through
        a request counts as idle too, so a half-sent request cannot hold a
        connection for ever.
        """
        loop = asyncio.get_running_loop()
        interval = min(5.0, self.keepalive_timeout / 2)
        while True:
            await asyncio.sleep(interval)
            cutoff = loop.time() - self.keepalive_timeout
            for conn in list(self.connections):
                if conn.idle and conn.last_active < cutoff:
                    conn.abort()

    async def close(self, grace: float = 2.0) -> None:
        """Stop listening; answer what is in flight (for up to ``grace`` s), then close all.

        Idle keep-alive connections close at once; a connection whose request is
        being answered closes after the answer (sent with ``Connection: close``),
        so a client that is mid-request when the sandbox stops gets its answer.
        """
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._server is not None:
            self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while True:
            for conn in list(self.connections):
                if conn.idle:
                    conn.abort()
            if not self.connections or loop.time() >= deadline:
                break
            await asyncio.sleep(0.01)
        for conn in list(self.connections):
            conn.abort()
        if self._server is not None:
            await self._server.wait_closed()

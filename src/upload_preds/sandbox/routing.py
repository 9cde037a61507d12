"""What the sandbox's handlers see and return, and the table that picks the handler.

The HTTP server is uvicorn (:mod:`.transport`); the application (:mod:`.app`)
turns each ASGI request into a :class:`Request` once its body has been read in
full, and hands it to a handler found by :class:`Router`. Handlers are plain
functions ``Request -> Response``: the body is already in memory and SQLite is
synchronous, so nothing in a handler awaits. :func:`send_response` writes a
:class:`Response` as the two ASGI messages.

Routing matches the still percent-encoded path (ASGI's ``raw_path``), segment
patterns ``{name}`` or ``{name:regex}``, and decodes the captured values, so an
encoded ``/`` stays inside its segment. ``HEAD`` is answered by the ``GET``
route (uvicorn leaves out the body). Every route also says how large a request
body it takes (``max_body``, 0 for reads): the application refuses a larger one
with 413 before it reads more than the cap.
"""

from __future__ import annotations

import email.utils
import mimetypes
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

_JSON = "application/json"

#: ASGI's callables, as loosely typed as the spec's dict messages.
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The body cap of routes that take a small JSON document (settings, a name).
SMALL_BODY = 64 * 1024


class Request:
    """One complete HTTP request as a handler sees it.

    ``path`` is percent-decoded; ``raw_path`` is as sent. ``headers`` maps
    lower-cased names to the last value sent. ``match_info`` and ``route`` are
    set by :class:`Router`; ``arrived`` is the loop time the head arrived.
    """

    __slots__ = (
        "_query",
        "arrived",
        "body",
        "headers",
        "match_info",
        "method",
        "path",
        "query_string",
        "raw_path",
        "route",
    )

    def __init__(
        self,
        method: str,
        path: str,
        raw_path: str,
        query_string: str,
        headers: dict[str, str],
        arrived: float,
        body: bytes = b"",
    ) -> None:
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.arrived = arrived
        self.match_info: dict[str, str] = {}
        self.route = "(no route)"
        self._query: dict[str, str] | None = None

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
        """``http://host[:port]`` as the client addressed this server (checked by the app)."""
        return "http://" + self.headers.get("host", "localhost")


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


async def send_response(send: Send, response: Response, close: bool = False) -> None:
    """Send ``response`` as ``http.response.start`` and one ``http.response.body``.

    ``close`` adds ``Connection: close``: uvicorn then closes the connection
    after the answer (used when a request body was left unread).
    """
    status = response.status
    headers: list[tuple[bytes, bytes]] = []
    if status != 204 and status != 304:
        if response.content_type is not None:
            headers.append((b"content-type", response.content_type.encode("latin-1")))
        headers.append((b"content-length", str(len(response.body)).encode()))
    for k, v in response.headers.items():
        headers.append((k.encode("latin-1"), v.encode("latin-1")))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    body = b"" if status in (204, 304) else response.body
    await send({"type": "http.response.body", "body": body, "more_body": False})


def file_response(path: Path, content_type: str | None = None) -> Response:
    """A file's bytes (the sandbox only serves small files: its page and sample images)."""
    ctype = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "image/svg+xml"):
        ctype += "; charset=utf-8"
    mtime = email.utils.formatdate(path.stat().st_mtime, usegmt=True)
    return Response(path.read_bytes(), 200, ctype, {"Last-Modified": mtime})


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status)


def error_response(status: int, message: str, **extra: Any) -> Response:
    """``{"detail": message, **extra}``, the platform's shape for protocol-level errors too."""
    return json_response({"detail": message, **extra}, status)


# -- routing ------------------------------------------------------------------------------

#: A route's handler: most answer at once; one with slow work (a large point
#: cloud to parse) returns an awaitable, which the app awaits, so that work can run
#: off the event loop.
Handler = Callable[[Request], "Response | Awaitable[Response]"]

_PARAM = re.compile(r"\{(\w+)(?::([^{}]+))?\}")


@dataclass(slots=True)
class _Route:
    canonical: str
    regex: re.Pattern[str] | None
    handlers: dict[str, tuple[Handler, int]]


@dataclass(frozen=True, slots=True)
class Target:
    """What :meth:`Router.resolve` found: the handler and the largest body it takes."""

    handler: Handler
    max_body: int


class Router:
    """Method and path pattern → handler. Static paths by dict, patterns in order added."""

    def __init__(self) -> None:
        self._static: dict[str, _Route] = {}
        self._dynamic: list[_Route] = []
        self._by_canonical: dict[str, _Route] = {}

    def add(self, method: str, pattern: str, handler: Handler, max_body: int = 0) -> None:
        """Route ``method pattern`` to ``handler``; a body over ``max_body`` bytes is a 413."""
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
        route.handlers[method] = (handler, max_body)

    def resolve(self, request: Request) -> Target | Response:
        """The target for ``request`` (setting its ``match_info`` and ``route``), or a 404/405."""
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
        found = route.handlers.get("GET" if method == "HEAD" else method)
        if found is None:
            allowed = ", ".join(sorted(route.handlers))
            resp = error_response(405, f'Method "{method}" not allowed.')
            resp.headers["Allow"] = allowed
            return resp
        return Target(*found)


# -- what handlers share ------------------------------------------------------------------


def not_found(message: str = "Not found.") -> Response:
    return error_response(404, message)


def bad_request(errors: dict[str, Any]) -> Response:
    return json_response(errors, 400)


class BodyError(Exception):
    """A request body that is not JSON; carries the 400 answer."""

    def __init__(self, response: Response) -> None:
        super().__init__("bad body")
        self.response = response


def read_json(request: Request) -> Any:
    """The request body as JSON (the application has already undone ``Content-Encoding``)."""
    raw = request.body
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BodyError(error_response(400, f"JSON parse error - {e}")) from None

"""Serving the sandbox's ASGI application with uvicorn, and the few limits uvicorn lacks.

uvicorn (``--http httptools``, the asyncio loop) does HTTP/1.1: parsing,
keep-alive, pipelining, ``Expect: 100-continue``, closing idle keep-alive
connections (``timeout_keep_alive``), and the graceful shutdown that answers
requests in flight with ``Connection: close``. :func:`serve` runs a
``uvicorn.Server`` on a socket bound here (so a busy port is an ``OSError`` for
the caller, not uvicorn's ``sys.exit``) until a stop event is set, without
uvicorn's signal handlers (the CLI owns SIGINT/SIGTERM; a background thread
has none).

What uvicorn's httptools protocol does not limit, :class:`SandboxProtocol`
(a small subclass, selected through ``Config(http=...)``) adds, each because a
client without the key could otherwise hold the server (issue 11):

- **the head**: llhttp has no size limit and uvicorn sets none, so one endless
  header line grows memory without bound. The URL and headers together may be
  :attr:`Limits.max_head` bytes; past that the answer is 431 and the
  connection closes. (httptools buffers a header line until it ends, so bytes
  received while the head is incomplete are counted too.)
- **a deadline to arrive**: ``timeout_keep_alive`` only covers the idle time
  between requests. A request (from its first byte, or a new connection from
  its opening) must arrive in full within :attr:`Limits.request_timeout`;
  else the client gets 408 when nothing is being answered, and the connection
  closes. A client trickling one byte every few seconds is cut off.
- **connections**: uvicorn's ``limit_concurrency`` answers a request 503 (and
  closes) while :attr:`Limits.max_connections` connections are open; a new
  connection past twice that is closed at once, so file descriptors stay
  bounded even when clients open connections and send nothing.
- **dropping a request on purpose** (the drop faults): an ASGI application
  cannot close its connection without an answer (raising makes uvicorn send a
  500). The protocol puts ``scope["extensions"]["upload_preds.abort"]`` in
  every request's scope: a callable that resets the connection; and
  ``"upload_preds.arrived"``, the loop time the request began to arrive, from
  which the added latency counts.

Body sizes are limited per route by the application (:mod:`.bodies`), which
reads the body only after the key was checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, cast

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from upload_preds.sandbox.routing import App

# uvicorn logs malformed requests and refused connections as warnings; the
# client already got its 400/431/503, and a sandbox in someone's terminal
# (`upload-preds --sandbox`) must not print them through logging's last-resort
# handler. A NullHandler stops only that: where the program configured logging,
# the records still reach its handlers.
logging.getLogger("uvicorn").addHandler(logging.NullHandler())

#: Key of the drop callable in ``scope["extensions"]``.
ABORT = "upload_preds.abort"
#: Key of the loop time the request began to arrive, in ``scope["extensions"]``:
#: the added latency counts from here, not from when the application task ran.
ARRIVED = "upload_preds.arrived"


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client may take of the sandbox (see the module docstring)."""

    #: URL and headers of one request, bytes (431 past it; nginx allows 8-32 KiB).
    max_head: int = 16 * 1024
    #: Seconds a request (or a new connection's first request) has to arrive in full.
    request_timeout: float = 30.0
    #: Seconds an idle keep-alive connection stays open (aiohttp.web's default).
    keepalive_timeout: int = 75
    #: Open connections served at once; requests past it get 503.
    max_connections: int = 1000
    #: Seconds requests in flight at stop have to be answered.
    shutdown_grace: float = 2.0


class _HeadTooLarge(Exception):
    """Raised from a parser callback: the URL and headers passed ``max_head``."""


class SandboxProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a head limit, a request deadline and a drop hook."""

    limits: ClassVar[Limits] = Limits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, _OneWrite(transport, self.loop)))
        self._unfinished = 0  # bytes received while the current head is incomplete
        self._in_head = True
        self._begun = self.loop.time()
        self._deadline: asyncio.TimerHandle | None = None
        if len(self.connections) > 2 * self.limits.max_connections:
            self.transport.abort()
            return
        # A new connection must send a whole request in time, like every later one.
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._in_head:
            self._unfinished += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No WebSocket support is configured: uvicorn has answered the request as a
            # plain one; whatever follows the upgrade is not HTTP.
            self._refuse(400, "Protocol upgrades are not supported.")
            return
        except httptools.HttpParserError as e:
            if isinstance(e.__context__, _HeadTooLarge):
                self._refuse(431, "Request header fields too large.")
            else:
                self._refuse(400, f"Bad request: {e}.")
            return
        # Only a head that is still incomplete can grow here (one endless line is
        # buffered inside httptools and reaches no callback until it ends). The
        # slack of one read keeps a pipelined head behind a body from counting twice.
        if self._in_head and self._unfinished > self.limits.max_head + 256 * 1024:
            self._refuse(431, "Request header fields too large.")
        elif self._in_message and self._deadline is None:
            # Armed only for a request that did not arrive in one read: the common
            # case costs no timer.
            self._arm_deadline()

    # -- httptools callbacks, wrapped

    _in_message = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_message = True
        self._begun = self.loop.time()
        self.scope["extensions"] = {ABORT: self._abort, ARRIVED: self._begun}

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._unfinished = 0
        # Summed once here rather than per header callback (a Python call each):
        # while the head grows, the byte count in data_received bounds memory.
        size = len(self.url) + sum(len(n) + len(v) for n, v in self.headers)
        if size > self.limits.max_head:
            raise _HeadTooLarge  # out of feed_data as a parser error: 431
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._in_message = False
        self._disarm_deadline()
        super().on_message_complete()

    # -- deadline, refusal, drop

    def _arm_deadline(self) -> None:
        self._deadline = self.loop.call_at(
            self._begun + self.limits.request_timeout, self._deadline_passed
        )

    def _disarm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        self._refuse(408, "The request did not arrive in time.")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` unless an answer is under way, then close the connection."""
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # the application's answer would come too late
            self.transport.write(_error_bytes(status, message))
        self.transport.close()

    def _abort(self) -> None:
        self._disarm_deadline()
        if not self.transport.is_closing():
            self.transport.abort()


class _OneWrite:
    """A connection's transport that sends an answer's head and body in one ``send``.

    uvicorn writes an answer's head and body separately: two system calls per
    answer, the largest single cost of a small PUT in a profile (about a sixth
    of the server's time). A write is held until the next one (the body, in
    the same step of the same task) and both leave together; a write with no
    successor (the head of a HEAD answer) leaves at the end of the loop
    iteration. Everything else is the transport's own.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = data
            self._loop.call_soon(self._flush)
        else:
            self._held = None
            self._transport.write(held + data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _error_bytes(status: int, message: str) -> bytes:
    body = ('{"detail": "' + message + '"}').encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def bind(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``OSError`` when it cannot be bound).

    Made with the protocol number getaddrinfo gives (``IPPROTO_TCP``), not 0:
    asyncio sets ``TCP_NODELAY`` only on accepted sockets whose ``proto`` says
    TCP, and without it Nagle's algorithm holds uvicorn's second write of each
    answer (the body) for the client's delayed ACK: 40 ms more per request on
    a keep-alive connection (measured: 92 ms instead of 51 at --latency-ms 50).
    """
    family, kind, proto, _, addr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals belong to the caller: the CLI sets the stop event on SIGINT/SIGTERM.
        yield


async def serve(
    app: App,
    sock: socket.socket,
    limits: Limits,
    stop: asyncio.Event,
    on_listening: Callable[[], None],
) -> None:
    """Serve ``app`` on ``sock`` until ``stop`` is set; then answer what is in flight and close."""
    protocol: type[SandboxProtocol] = type(
        "SandboxProtocol", (SandboxProtocol,), {"limits": limits}
    )
    config = uvicorn.Config(
        app,
        http=protocol,
        loop="none",
        lifespan="off",
        ws="none",
        interface="asgi3",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=True,
        headers=[("server", "upload-preds-sandbox")],
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=limits.keepalive_timeout,
        # Typed int, but only ever passed to asyncio.timeout: tests use fractions.
        timeout_graceful_shutdown=limits.shutdown_grace,  # type: ignore[arg-type]
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped the start
                return
            await asyncio.sleep(0.005)
        on_listening()
        stop_waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
        stop_waiter.cancel()
        server.should_exit = True
        await task
    finally:
        # Past the grace uvicorn cancels the requests; their connections go too.
        for conn in list(server.server_state.connections):
            transport: Any = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

"""The sandbox's own HTTP/1.1 layer (``upload_preds.sandbox.http``), over real sockets.

A :class:`Server` runs on its own event-loop thread with a small test app;
each test speaks raw HTTP/1.1 through a socket so that what is on the wire
(framing, keep-alive, order of pipelined answers, status codes) is checked,
not what a client library makes of it. The SDK conformance tests cover the
same layer through ``requests``; the uploader's tests through aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
import pytest

from upload_preds.sandbox.http import (
    MAX_HEAD,
    BodyTooLarge,
    FilePart,
    Request,
    Response,
    Router,
    Server,
    decode_body,
    parse_multipart,
)

MAX_BODY = 4096


@dataclass
class Running:
    port: int
    server: Server
    loop: asyncio.AbstractEventLoop
    seen: list[Request] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)

    def connect(self) -> socket.socket:
        """A client socket, closed when the test ends."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.sockets.append(sock)
        return sock


def make_router(seen: list[Request]) -> Router:
    """Routes of the test app; ``/slow/{ms}`` answers later, so pipelining order shows."""
    r = Router()

    def echo(req: Request) -> Response:
        seen.append(req)
        out = {
            "method": req.method,
            "path": req.path,
            "match": req.match_info,
            "query": req.query,
            "body": req.body.decode("utf-8", "replace"),
            "headers": {k: v for k, v in req.headers.items() if k in ("x-a", "content-type")},
        }
        return Response(orjson.dumps(out))

    def boom(req: Request) -> Response:
        raise RuntimeError("a bug in a handler")

    r.add("GET", "/echo/{a}/{b}/", echo)
    r.add("POST", "/echo/{a}/{b}/", echo)
    r.add("PUT", "/echo", echo)
    r.add("GET", "/files/{path:.+}", echo)
    r.add("GET", "/boom", boom)
    r.add("GET", "/empty", lambda req: Response(status=204, content_type=None))
    return r


@pytest.fixture
def running() -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    seen: list[Request] = []
    router = make_router(seen)

    def app(req: Request) -> None:
        if req.raw_path.startswith("/slow/"):
            ms = int(req.raw_path.rsplit("/", 1)[1])
            resp = Response(f'{{"slow": {ms}}}'.encode())
            loop.call_later(ms / 1000, req.respond, resp)
            return
        if req.raw_path == "/drop":
            req.abort()
            return
        target = router.resolve(req)
        if isinstance(target, Response):
            req.respond(target)
        else:
            req.respond(target(req))

    server = Server(app, max_body=MAX_BODY)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    _, port = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), loop).result(10)
    running = Running(port, server, loop, seen)
    yield running
    for sock in running.sockets:
        sock.close()
    # A second close (after a test closed it) only waits for what is already closed.
    asyncio.run_coroutine_threadsafe(server.close(grace=0.5), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def read_response(s: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response off the socket (Content-Length framing); leftovers stay in ``buf``."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a full answer")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        rest += chunk
    buf[:] = rest[length:]
    return status, headers, rest[:length]


def closed(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def request(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test"]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# -- routing, query, headers ------------------------------------------------------------------


def test_route_params_are_decoded_and_an_encoded_slash_stays_in_its_segment(
    running: Running,
) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", "/echo/a%2Fb/%C3%A9t%C3%A9/?x=1&x=2&y=&z=%20", X_A="v"))
    status, headers, body = read_response(s, buf)
    assert status == 200
    assert headers["content-type"] == "application/json"
    out = orjson.loads(body)
    assert out["match"] == {"a": "a/b", "b": "été"}
    assert out["query"] == {"x": "1", "y": "", "z": " "}  # the first value wins
    assert out["headers"] == {"x-a": "v"}  # names lower-cased
    assert "date" in headers


def test_unknown_path_is_404_and_a_wrong_method_405_with_allow(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", "/nope"))
    status, _, body = read_response(s, buf)
    assert (status, orjson.loads(body)) == (404, {"detail": "Not found."})
    s.sendall(request("DELETE", "/echo/a/b/"))
    status, headers, body = read_response(s, buf)
    assert status == 405
    assert headers["allow"] == "GET, POST"
    assert orjson.loads(body) == {"detail": 'Method "DELETE" not allowed.'}


def test_head_is_answered_by_the_get_route_without_a_body(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("HEAD", "/echo/a/b/"))
    s.sendall(request("GET", "/empty"))
    # The HEAD answer announces a length but carries no body: the next answer follows at once.
    while buf.count(b"\r\n\r\n") < 2:
        buf += s.recv(65536)
    head1, _, rest = bytes(buf).partition(b"\r\n\r\n")
    assert head1.startswith(b"HTTP/1.1 200 OK")
    assert b"Content-Length: " in head1
    assert rest.startswith(b"HTTP/1.1 204 No Content")
    assert b"Content-Length" not in rest


def test_a_regex_segment_takes_the_rest_of_the_path(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", "/files/a/b%20c.png"))
    _, _, body = read_response(s, buf)
    assert orjson.loads(body)["match"] == {"path": "a/b c.png"}


# -- connections ------------------------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    for i in range(20):
        s.sendall(request("PUT", "/echo", f"body-{i}".encode()))
        status, headers, body = read_response(s, buf)
        assert status == 200
        assert "connection" not in headers
        assert orjson.loads(body)["body"] == f"body-{i}"


def test_pipelined_requests_are_answered_in_order_even_when_the_first_is_slow(
    running: Running,
) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", "/slow/200") + request("GET", "/slow/0") + request("GET", "/slow/50"))
    answers = [orjson.loads(read_response(s, buf)[2]) for _ in range(3)]
    assert answers == [{"slow": 200}, {"slow": 0}, {"slow": 50}]


def test_connection_close_and_http_1_0_close_after_the_answer(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", "/echo/a/b/", Connection="close"))
    status, headers, _ = read_response(s, buf)
    assert status == 200
    assert headers["connection"] == "close"
    assert closed(s)
    s, buf = running.connect(), bytearray()
    s.sendall(b"GET /echo/a/b/ HTTP/1.0\r\nHost: test\r\n\r\n")
    assert read_response(s, buf)[0] == 200
    assert closed(s)
    s, buf = running.connect(), bytearray()
    s.sendall(b"GET /echo/a/b/ HTTP/1.0\r\nHost: test\r\nConnection: keep-alive\r\n\r\n")
    assert read_response(s, buf)[0] == 200
    s.sendall(request("GET", "/echo/a/b/"))
    assert read_response(s, buf)[0] == 200


def test_a_malformed_request_gets_400_and_the_connection_closes(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(b"GET /echo/a/b/ HTTP/1.1\r\nHost: test\r\nBad Header\r\n\r\n")
    status, headers, body = read_response(s, buf)
    assert status == 400
    assert headers["connection"] == "close"
    assert orjson.loads(body)["detail"].startswith("Bad request")
    assert closed(s)


@pytest.mark.parametrize(
    "target",
    ["/echo/a/b/?q=" + "x" * MAX_HEAD, "/echo/a/b/"],
    ids=["long-url", "endless-headers"],
)
def test_an_oversized_head_gets_431_and_the_connection_closes(
    running: Running, target: str
) -> None:
    s, buf = running.connect(), bytearray()
    head = f"GET {target} HTTP/1.1\r\nHost: test\r\n".encode()
    if target == "/echo/a/b/":
        head += b"".join(f"X-{i}: {'v' * 100}\r\n".encode() for i in range(1000))
    s.sendall(head + b"\r\n")
    status, headers, _ = read_response(s, buf)
    assert status == 431
    assert headers["connection"] == "close"
    assert closed(s)
    assert running.seen == []


@pytest.mark.parametrize(
    ("head", "chunk", "status"),
    [
        (b"GET /echo/a/b/ HTTP/1.1\r\nHost: test\r\nX-Endless: ", b"v" * 16384, 431),
        (
            b"PUT /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"4000\r\n" + b"b" * 0x4000 + b"\r\n",
            413,
        ),
    ],
    ids=["one-endless-header-line", "endless-chunked-body"],
)
def test_a_request_that_never_ends_is_cut_off(
    running: Running, head: bytes, chunk: bytes, status: int
) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(head)
    sent = 0
    with contextlib.suppress(ConnectionError):  # the server may close while we send
        while sent < 4 * (MAX_BODY + 2 * MAX_HEAD):
            s.sendall(chunk)
            sent += len(chunk)
    assert read_response(s, buf)[0] == status
    assert closed(s)
    assert running.seen == []


def test_an_upgrade_request_is_refused(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", "/echo/a/b/", Connection="Upgrade", Upgrade="websocket"))
    assert read_response(s, buf)[0] == 400
    assert closed(s)


def test_abort_closes_the_connection_without_an_answer(running: Running) -> None:
    s = running.connect()
    s.sendall(request("GET", "/drop"))
    assert closed(s)


def test_an_answer_after_the_client_left_goes_nowhere(running: Running) -> None:
    s = running.connect()
    s.sendall(request("GET", "/slow/100"))
    s.close()
    # The late answer must not break the server: the next client is served.
    s2, buf = running.connect(), bytearray()
    s2.sendall(request("GET", "/slow/150"))
    assert read_response(s2, buf)[0] == 200
    assert running.server.errors == 0


def test_connections_idle_past_the_keepalive_timeout_are_closed(running: Running) -> None:
    router = make_router([])

    def app(req: Request) -> None:
        if req.raw_path == "/slow":
            running.loop.call_later(1.0, req.respond, Response(b"{}"))
            return
        target = router.resolve(req)
        req.respond(target if isinstance(target, Response) else target(req))

    server = Server(app, keepalive_timeout=0.4)
    _, port = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), running.loop).result(5)
    try:
        idle = socket.create_connection(("127.0.0.1", port), timeout=5)
        busy = socket.create_connection(("127.0.0.1", port), timeout=5)
        running.sockets += [idle, busy]
        buf, busy_buf = bytearray(), bytearray()
        idle.sendall(request("GET", "/echo/a/b/"))
        assert read_response(idle, buf)[0] == 200
        idle_since = time.monotonic()
        busy.sendall(request("GET", "/slow"))  # in flight longer than the timeout
        assert closed(idle)
        assert 0.3 < time.monotonic() - idle_since < 3
        assert read_response(busy, busy_buf)[0] == 200  # never cut off mid-answer
        half = socket.create_connection(("127.0.0.1", port), timeout=5)
        running.sockets.append(half)
        half.sendall(b"PUT /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nabc")
        assert closed(half)  # a request stalled halfway is idle too
    finally:
        asyncio.run_coroutine_threadsafe(server.close(grace=0.5), running.loop).result(10)


def test_a_handler_that_raises_gets_500_and_is_counted(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", "/boom"))
    status, headers, body = read_response(s, buf)
    assert status == 500
    assert headers["connection"] == "close"
    assert orjson.loads(body) == {"detail": "A server error occurred."}
    assert running.server.errors == 1


def test_close_ends_idle_connections_and_answers_the_one_in_flight(running: Running) -> None:
    idle, buf = running.connect(), bytearray()
    idle.sendall(request("GET", "/echo/a/b/"))
    assert read_response(idle, buf)[0] == 200
    busy, busy_buf = running.connect(), bytearray()
    busy.sendall(request("GET", "/slow/300"))
    time.sleep(0.05)  # the request has arrived and waits for its answer
    closing = asyncio.run_coroutine_threadsafe(running.server.close(), running.loop)
    assert closed(idle)
    status, headers, body = read_response(busy, busy_buf)
    assert (status, headers["connection"], orjson.loads(body)) == (200, "close", {"slow": 300})
    assert closed(busy)
    closing.result(10)


def test_close_gives_up_on_answers_after_the_grace_period(running: Running) -> None:
    s = running.connect()
    s.sendall(request("GET", "/slow/5000"))
    time.sleep(0.05)
    started = time.monotonic()
    asyncio.run_coroutine_threadsafe(running.server.close(grace=0.2), running.loop).result(10)
    assert time.monotonic() - started < 3
    assert closed(s)


# -- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some clients send
        ("identity", lambda b: b),
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "identity"],
)
def test_encoded_bodies_reach_the_handler_decoded(
    running: Running, encoding: str, encode: object
) -> None:
    assert callable(encode)
    raw = b'{"hello": "world"}' * 20
    s, buf = running.connect(), bytearray()
    s.sendall(request("PUT", "/echo", encode(raw), Content_Encoding=encoding))
    status, _, body = read_response(s, buf)
    assert status == 200
    assert orjson.loads(body)["body"] == raw.decode()


def test_a_chunked_body_is_joined(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(
        b"PUT /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    assert orjson.loads(read_response(s, buf)[2])["body"] == "hello world"


@pytest.mark.parametrize(
    ("headers", "body", "status", "detail"),
    [
        ({"Content_Encoding": "gzip"}, b"not gzip at all", 400, "corrupt"),
        ({"Content_Encoding": "gzip"}, gzip.compress(b"x" * 100)[:-8], 400, "truncated"),
        ({"Content_Encoding": "br"}, b"whatever", 400, "unsupported Content-Encoding"),
        ({}, b"x" * (MAX_BODY + 1), 413, "too large"),
        ({"Content_Encoding": "gzip"}, gzip.compress(b"0" * (MAX_BODY * 50)), 413, "too large"),
    ],
    ids=["corrupt-gzip", "truncated-gzip", "unknown-encoding", "too-large", "gzip-bomb"],
)
def test_bad_bodies_are_refused_with_a_message(
    running: Running, headers: dict[str, str], body: bytes, status: int, detail: str
) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("PUT", "/echo", body, **headers))
    got, _, answer = read_response(s, buf)
    assert got == status
    assert detail.lower() in orjson.loads(answer)["detail"].lower()
    assert running.seen == []  # the handler never saw it


def test_expect_100_continue_is_answered_before_the_body(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    head = b"PUT /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    s.sendall(head)
    interim = s.recv(100)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(b"hello")
    assert orjson.loads(read_response(s, buf)[2])["body"] == "hello"


def test_decode_body_stops_a_bomb_at_the_cap() -> None:
    with pytest.raises(BodyTooLarge):
        decode_body(gzip.compress(b"\0" * 1_000_000), "gzip", limit=1000)
    assert decode_body(gzip.compress(b"abc"), "GZIP", limit=3) == b"abc"


# -- multipart --------------------------------------------------------------------------------


def multipart(boundary: str, parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
        if filename:
            out += b"Content-Type: image/png\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_multipart_fields_and_a_binary_file_survive_byte_for_byte() -> None:
    png = bytes(range(256)) * 4 + b"\r\n--not-the-boundary\r\n\r\n"
    body = multipart("XyZ", [("key", None, b"assets/1/a.png"), ("file", "a.png", png)])
    fields = parse_multipart(body, 'multipart/form-data; boundary="XyZ"')
    assert fields["key"] == "assets/1/a.png"
    assert fields["file"] == FilePart("a.png", "image/png", png)


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (
            b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n",
            "multipart/form-data; boundary=b",
        ),
        (b"", "multipart/form-data"),
        (b"a=1", "application/x-www-form-urlencoded"),
        (b"--b\r\nno blank line\r\n--b--\r\n", "multipart/form-data; boundary=b"),
    ],
    ids=["no-closing-boundary", "no-boundary", "not-multipart", "no-header-end"],
)
def test_malformed_multipart_is_a_value_error(body: bytes, ctype: str) -> None:
    with pytest.raises(ValueError, match=r"multipart|boundary|blank line"):
        parse_multipart(body, ctype)

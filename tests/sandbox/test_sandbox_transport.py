"""The sandbox's HTTP behaviour on the wire, served by uvicorn, over raw sockets.

These were the tests of the home-made HTTP layer; they now check the same
behaviours through the real sandbox (uvicorn plus :mod:`upload_preds.sandbox.transport`
and the application): routing, keep-alive, pipelining order, closing, 400/431/413,
cut-off requests, drops, idle connections, shutdown, encoded and chunked
bodies, ``Expect: 100-continue``, and multipart parsing. Each test speaks raw
HTTP/1.1 through a socket so that what is on the wire (framing, keep-alive,
order of answers, status codes) is checked, not what a client library makes
of it. The SDK conformance tests cover the same server through ``requests``;
the uploader's tests through aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable

import orjson
import pytest
from sandboxkit import (
    KEY,
    LABEL,
    SAMPLES,
    Running,
    both_manifests,
    closed,
    put_label,
    read_response,
    request,
    running_sandbox,
)

from upload_preds.sandbox import Faults, start_sandbox
from upload_preds.sandbox.app import Sandbox
from upload_preds.sandbox.bodies import FilePart, parse_multipart
from upload_preds.sandbox.labels import LABEL_BODY
from upload_preds.sandbox.routing import Request, Response
from upload_preds.sandbox.store import Store
from upload_preds.sandbox.transport import Limits, bind, serve

# -- routing ---------------------------------------------------------------------------------


def test_route_params_are_decoded_and_an_encoded_slash_stays_in_its_segment(
    running: Running,
) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", f"/labels/{SAMPLES[0]}/model%2Fv2/"))
    status, _, body = read_response(s, buf)
    assert status == 404
    assert "'model/v2'" in orjson.loads(body)["detail"]


def test_unknown_path_is_404_and_a_wrong_method_405_with_allow(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", "/no/such/"))
    assert read_response(s, buf)[0] == 404
    s.sendall(request("POST", f"/labels/{SAMPLES[0]}/predictions/", b"{}"))
    status, headers, _ = read_response(s, buf)
    assert (status, headers["allow"]) == (405, "DELETE, GET, PATCH, PUT")


def test_head_is_answered_by_the_get_route_without_a_body(running: Running) -> None:
    s = running.connect()
    s.sendall(request("HEAD", "/api_status/"))
    s.sendall(request("GET", "/api_status/"))
    # A HEAD answer has no body: the next bytes are the GET's answer.
    head = s.recv(65536)
    while head.count(b"HTTP/1.1 200") < 2:
        head += s.recv(65536)
    first, _, rest = head.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200")
    assert rest.startswith(b"HTTP/1.1 200")


# -- connections -------------------------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    for i in range(20):
        s.sendall(put_label(SAMPLES[i % len(SAMPLES)]))
        assert read_response(s, buf)[0] in (200, 201)


def test_pipelined_requests_are_answered_in_order_even_when_the_first_is_slow() -> None:
    with running_sandbox(faults=Faults(latency_ms=50, jitter_ms=100), seed=3) as r:
        s, buf = r.connect(), bytearray()
        s.sendall(b"".join(request("GET", f"/samples/{u}/") for u in SAMPLES[:6]))
        names = [orjson.loads(read_response(s, buf)[2])["uuid"] for _ in range(6)]
        assert names == SAMPLES[:6]


def test_connection_close_and_http_1_0_close_after_the_answer(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", "/api_status/", Connection="close"))
    assert read_response(s, buf)[0] == 200
    assert closed(s)
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", "/api_status/").replace(b"HTTP/1.1", b"HTTP/1.0", 1))
    assert read_response(s, buf)[0] == 200
    assert closed(s)


def test_a_malformed_request_gets_400_and_the_connection_closes(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(b"GET /api_status/ HTTP/1.1\r\nHost: test\r\nBad Header\r\n\r\n")
    status, headers, body = read_response(s, buf)
    assert status == 400
    assert headers["connection"] == "close"
    assert orjson.loads(body)["detail"].startswith("Bad request")
    assert closed(s)


@pytest.mark.parametrize(
    "target",
    ["/api_status/?q=" + "x" * Limits().max_head, "/api_status/"],
    ids=["long-url", "endless-headers"],
)
def test_an_oversized_head_gets_431_and_the_connection_closes(
    running: Running, target: str
) -> None:
    s, buf = running.connect(), bytearray()
    head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    if target == "/api_status/":
        head += b"".join(f"X-{i}: {'v' * 100}\r\n".encode() for i in range(1000))
    with contextlib.suppress(ConnectionError):  # the server may close while we send
        s.sendall(head + b"\r\n")
    status, headers, _ = read_response(s, buf)
    assert status == 431
    assert headers["connection"] == "close"
    assert closed(s)
    assert running.sb.stats()["total_requests"] == 0  # the application never saw it


@pytest.mark.parametrize(
    ("head", "chunk", "status"),
    [
        (b"GET /api_status/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ", b"v" * 16384, 431),
        (
            put_label().partition(b"Content-Length")[0] + b"Transfer-Encoding: chunked\r\n\r\n",
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
    with contextlib.suppress(ConnectionError):  # the server closes while we send
        while sent < 4 * LABEL_BODY:
            s.sendall(chunk)
            sent += len(chunk)
    assert read_response(s, buf)[0] == status
    assert closed(s)
    assert running.label_count() == 0 or status == 431


def test_an_upgrade_request_is_refused(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(request("GET", "/api_status/", Connection="Upgrade", Upgrade="websocket"))
    assert read_response(s, buf)[0] == 400
    assert closed(s)


def test_a_drop_closes_the_connection_without_an_answer() -> None:
    with running_sandbox(faults=Faults(drop_rate=1.0), seed=1) as r:
        for _ in range(4):  # before and after the write
            s = r.connect()
            s.sendall(put_label())
            assert closed(s)
        counts = r.sb.stats()["by_status"]
        assert counts.get("dropped", 0) + counts.get("dropped-after-write", 0) == 4


def test_an_answer_after_the_client_left_goes_nowhere() -> None:
    with running_sandbox(faults=Faults(latency_ms=100)) as r:
        s = r.connect()
        s.sendall(put_label())
        s.close()
        # The late answer must not break the server: the next client is served.
        s2, buf = r.connect(), bytearray()
        s2.sendall(put_label(SAMPLES[1]))
        assert read_response(s2, buf)[0] == 201
        time.sleep(0.2)  # the first answer's time has come and gone


def test_connections_idle_past_the_keepalive_timeout_are_closed() -> None:
    limits = Limits(keepalive_timeout=1, request_timeout=1.0)
    with running_sandbox(limits=limits, faults=Faults(latency_ms=1500)) as r:
        idle, busy = r.connect(), r.connect()
        buf, busy_buf = bytearray(), bytearray()
        idle.sendall(request("GET", "/_sandbox/stats"))  # not delayed: no faults there
        assert read_response(idle, buf)[0] == 200
        idle_since = time.monotonic()
        busy.sendall(put_label())  # in flight longer than both timeouts
        assert closed(idle)
        assert time.monotonic() - idle_since > 0.5
        assert read_response(busy, busy_buf)[0] == 201  # never cut off mid-answer
        half = r.connect()
        half.sendall(put_label().partition(b"\r\n\r\n")[0] + b"\r\n\r\n{")
        status, _, _ = read_response(half, bytearray())  # a request stalled halfway
        assert status == 408
        assert closed(half)


def test_stop_ends_idle_connections_and_answers_the_one_in_flight() -> None:
    r = Running(start_sandbox(data=both_manifests(), api_key=KEY, faults=Faults(latency_ms=300)))
    try:
        idle, buf = r.connect(), bytearray()
        idle.sendall(request("GET", "/_sandbox/stats"))
        assert read_response(idle, buf)[0] == 200
        busy, busy_buf = r.connect(), bytearray()
        busy.sendall(put_label())
        time.sleep(0.05)  # the request has arrived and waits for its answer
        r.sb.stop()
        assert closed(idle)
        status, headers, _ = read_response(busy, busy_buf)
        assert (status, headers["connection"]) == (201, "close")
        assert closed(busy)
    finally:
        r.sb.stop()
        for s in r.sockets:
            s.close()


def test_stop_gives_up_on_answers_after_the_grace_period() -> None:
    sb = start_sandbox(
        data=both_manifests(),
        api_key=KEY,
        faults=Faults(latency_ms=20_000),
        limits=Limits(shutdown_grace=0.2),
    )
    r = Running(sb)
    try:
        s = r.connect()
        s.settimeout(10)
        s.sendall(put_label())
        time.sleep(0.05)
        started = time.monotonic()
        sb.stop()
        stopped = time.monotonic() - started
        assert closed(s)
        assert stopped < 10  # far below the 20 s answer it gave up on
    finally:
        sb.stop()
        s.close()


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
    running: Running, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    s, buf = running.connect(), bytearray()
    s.sendall(put_label(body=encode(LABEL), Content_Encoding=encoding))
    status, _, body = read_response(s, buf)
    assert status == 201, body
    assert orjson.loads(body)["attributes"] == orjson.loads(LABEL)["attributes"]


def test_a_chunked_body_is_joined(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    head = put_label().partition(b"Content-Length")[0] + b"Transfer-Encoding: chunked\r\n\r\n"
    a, b = LABEL[:10], LABEL[10:]
    s.sendall(head + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(a), a, len(b), b))
    assert read_response(s, buf)[0] == 201


@pytest.mark.parametrize(
    ("headers", "body", "status", "detail"),
    [
        ({"Content_Encoding": "gzip"}, b"not gzip at all", 400, "corrupt"),
        ({"Content_Encoding": "gzip"}, gzip.compress(LABEL)[:-8], 400, "truncated"),
        ({"Content_Encoding": "br"}, b"whatever", 400, "unsupported Content-Encoding"),
        ({}, b" " * (LABEL_BODY + 1), 413, "too large"),
        ({"Content_Encoding": "gzip"}, gzip.compress(b" " * (LABEL_BODY * 8)), 413, "too large"),
    ],
    ids=["corrupt-gzip", "truncated-gzip", "unknown-encoding", "too-large", "gzip-bomb"],
)
def test_bad_bodies_are_refused_with_a_message(
    running: Running, headers: dict[str, str], body: bytes, status: int, detail: str
) -> None:
    s, buf = running.connect(), bytearray()
    with contextlib.suppress(ConnectionError):  # a 413 may close while we send
        s.sendall(put_label(body=body, **headers))
    got, _, answer = read_response(s, buf)
    assert got == status
    assert detail.lower() in orjson.loads(answer)["detail"].lower()
    assert running.label_count() == 0  # the handler never wrote


def test_expect_100_continue_is_answered_before_the_body(running: Running) -> None:
    s, buf = running.connect(), bytearray()
    head, _, body = put_label(Expect="100-continue").partition(b"\r\n\r\n")
    s.sendall(head + b"\r\n\r\n")
    interim = s.recv(100)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(body)
    assert read_response(s, buf)[0] == 201


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


def test_accepted_sockets_are_tcp_so_asyncio_sets_nodelay() -> None:
    # asyncio sets TCP_NODELAY only when the accepted socket's proto is IPPROTO_TCP;
    # a listening socket made with proto 0 lost 40 ms per keep-alive answer to Nagle.
    listener = bind("127.0.0.1", 0)
    try:
        client = socket.create_connection(listener.getsockname()[:2])
        conn, _ = listener.accept()
        assert conn.proto == socket.IPPROTO_TCP
        conn.close()
        client.close()
    finally:
        listener.close()


def test_a_handler_that_raises_gets_500_and_is_counted() -> None:
    # No route of the sandbox raises; a test route stands in for a bug, served by
    # the same application and uvicorn as the real routes.
    sandbox = Sandbox(Store(":memory:"), KEY)

    def boom(request: Request) -> Response:
        raise RuntimeError("a bug in a handler")

    sandbox.router.add("GET", "/boom", boom)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    listening = threading.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(serve(sandbox, sock, Limits(), stop, listening.set),),
        daemon=True,
    )
    thread.start()
    try:
        assert listening.wait(10)
        s, buf = socket.create_connection(("127.0.0.1", port), timeout=5), bytearray()
        s.sendall(request("GET", "/boom"))
        status, headers, body = read_response(s, buf)
        assert status == 500
        assert headers["connection"] == "close"
        assert orjson.loads(body) == {"detail": "A server error occurred."}
        assert sandbox.stats()["server_errors"] == 1
        s.close()
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
        sandbox.store.close()

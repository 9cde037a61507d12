"""The API client against a scriptable server on a real socket."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time
import traceback
from typing import Any

import orjson
import pytest
from enginekit import API_KEY, Reply, ScriptServer, Seen

from upload_preds.client import (
    GZIP_THRESHOLD,
    ApiError,
    ClientError,
    SegmentsClient,
    TransportError,
    parse_retry_after,
)
from upload_preds.errors import UsageError


def call(url: str, fn: Any, **kwargs: Any) -> Any:
    async def main() -> Any:
        async with SegmentsClient(url, API_KEY, **kwargs) as client:
            return await fn(client)

    return asyncio.run(main())


def catch(url: str, fn: Any, **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(url, fn, **kwargs)
    return info.value


def test_sends_the_key_in_the_apikey_header(server: ScriptServer) -> None:
    call(server.url, lambda c: c.check_key())
    (seen,) = server.requests()
    assert seen.headers["Authorization"] == f"APIKey {API_KEY}"
    assert seen.path == "/api_status/"
    assert seen.query == {"lib_version": "1.33.0"}


@pytest.mark.parametrize(
    ("url", "allow", "refused"),
    [
        pytest.param("http://api.example.com/", False, True, id="plain-http-remote-refused"),
        pytest.param("http://api.example.com/", True, False, id="plain-http-remote-allowed"),
        pytest.param("http://127.0.0.1:9/", False, False, id="loopback-v4"),
        pytest.param("http://[::1]:9/", False, False, id="loopback-v6"),
        pytest.param("http://localhost:9/", False, False, id="localhost"),
        pytest.param("https://api.segments.ai/", False, False, id="https"),
        pytest.param("ftp://api.segments.ai/", True, True, id="not-http"),
    ],
)
def test_insecure_http_is_refused_for_remote_hosts(url: str, allow: bool, refused: bool) -> None:
    if refused:
        with pytest.raises(UsageError) as info:
            SegmentsClient(url, API_KEY, allow_insecure_http=allow)
        assert API_KEY not in str(info.value)
    else:
        SegmentsClient(url, API_KEY, allow_insecure_http=allow)


def test_redirects_are_not_followed_so_the_key_stays_home(server: ScriptServer) -> None:
    other = ScriptServer()
    try:
        server.script = lambda seen: Reply(
            302, None, {"Location": f"{other.url}api_status/?lib_version=1.33.0"}
        )
        err = catch(server.url, lambda c: c.check_key())
        assert isinstance(err, ApiError)
        assert err.status == 302
        assert "redirect" in err.detail
        assert "--api-url" in err.detail
        assert other.requests() == []
    finally:
        other.stop()


@pytest.mark.parametrize(
    ("reply", "status", "detail"),
    [
        pytest.param(Reply(404, {"detail": "Not found."}), 404, "Not found.", id="drf-detail"),
        pytest.param(
            Reply(400, {"attributes": ["Unknown category id 9.", "Bad points."]}),
            400,
            "attributes: Unknown category id 9.; Bad points.",
            id="drf-field-list",
        ),
        pytest.param(
            Reply(400, {"non_field_errors": ["label_status is invalid"]}),
            400,
            "label_status is invalid",
            id="drf-non-field",
        ),
        pytest.param(Reply(409, ["conflict a", "b"]), 409, "conflict a; b", id="json-list"),
        pytest.param(
            Reply(502, text="<html>Bad Gateway</html>\nnginx"),
            502,
            "<html>Bad Gateway</html>",
            id="html-body",
        ),
        pytest.param(Reply(403, text=""), 403, "Forbidden", id="empty-body"),
    ],
)
def test_api_errors_carry_status_and_the_servers_message(
    server: ScriptServer, reply: Reply, status: int, detail: str
) -> None:
    server.script = lambda seen: reply
    err = catch(server.url, lambda c: c.put_label("u1", "predictions", {"attributes": {}}))
    assert isinstance(err, ApiError)
    assert (err.status, err.detail) == (status, detail)
    assert str(status) in str(err)


def test_retry_after_parsing() -> None:
    now = time.time()
    in_5 = email.utils.formatdate(now + 5, usegmt=True)
    past = email.utils.formatdate(now - 50, usegmt=True)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(past) == 0.0
    seconds = parse_retry_after(in_5, now=now)
    assert seconds is not None
    assert 3.9 <= seconds <= 5.0


def test_retry_after_header_reaches_the_error(server: ScriptServer) -> None:
    server.script = lambda seen: Reply(
        429, {"detail": "Request was throttled."}, {"Retry-After": "7"}
    )
    err = catch(server.url, lambda c: c.put_label("u1", "ground-truth", b"{}"))
    assert isinstance(err, ApiError)
    assert err.retry_after == 7.0


@pytest.mark.parametrize(
    ("boxes", "gzipped"),
    [pytest.param(1, False, id="small-plain"), pytest.param(40, True, id="large-gzip")],
)
def test_bodies_above_the_threshold_are_gzipped(
    server: ScriptServer, boxes: int, gzipped: bool
) -> None:
    body = {
        "attributes": {
            "format_version": "0.1",
            "annotations": [
                {"id": i, "category_id": 1, "type": "bbox", "points": [[1, 2], [3, 4]]}
                for i in range(boxes)
            ],
        },
        "label_status": "PRELABELED",
    }
    assert (len(orjson.dumps(body)) > GZIP_THRESHOLD) is gzipped
    call(server.url, lambda c: c.put_label("u1", "ground-truth", body))
    (seen,) = server.requests("PUT")
    assert (seen.headers.get("Content-Encoding") == "gzip") is gzipped
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.body == body  # the server decoded what it received


def _pages(total: int, per_page: int) -> Any:
    names = [f"img {i:03d}&x.jpg" for i in range(total)]

    def script(seen: Seen) -> Reply:
        page = int(seen.query["page"])
        chunk = names[(page - 1) * per_page : page * per_page]
        if not chunk and page > 1:
            return Reply(404, {"detail": "Invalid page."})
        return Reply(200, [{"uuid": f"u{n}", "name": n} for n in chunk])

    return script


@pytest.mark.parametrize(
    ("total", "per_page", "requests"),
    [
        # A short page proves nothing (a server may cap the page size): ask on.
        pytest.param(7, 3, 4, id="short-last-page-then-404"),
        pytest.param(6, 3, 3, id="exact-multiple-ends-on-404"),
        pytest.param(0, 3, 1, id="empty"),
    ],
)
def test_iter_samples_pages_until_empty_or_invalid_page(
    server: ScriptServer, total: int, per_page: int, requests: int
) -> None:
    server.script = _pages(total, per_page)

    async def collect(c: SegmentsClient) -> list[dict[str, Any]]:
        return [
            s
            async for s in c.iter_samples(
                "demo/street scenes",
                labelset="ground truth",
                label_status=["LABELED", "REVIEWED"],
                name__contains="a&b=c d",
                per_page=per_page,
            )
        ]

    samples = call(server.url, collect)
    assert len(samples) == total
    assert len(server.requests()) == requests
    first = server.requests()[0]
    assert first.path == "/datasets/demo/street scenes/samples/"
    assert first.query == {
        "per_page": str(per_page),
        "labelset": "ground truth",
        "label_status": "LABELED,REVIEWED",
        "name__contains": "a&b=c d",
        "sort": "name",
        "page": "1",
    }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_a_transport_error() -> None:
    err = catch(f"http://127.0.0.1:{_closed_port()}/", lambda c: c.check_key())
    assert isinstance(err, TransportError)
    assert err.kind == "connection"


def test_timeout_is_a_transport_error(server: ScriptServer) -> None:
    slow = 6.0
    server.script = lambda seen: Reply(200, {}, delay=slow)
    started = time.monotonic()
    err = catch(server.url, lambda c: c.check_key(), timeout=0.3, retries=0)
    assert isinstance(err, TransportError)
    assert err.kind == "timeout"
    # It gave up long before the answer: compared with the answer's delay, not a fixed time.
    assert time.monotonic() - started < slow / 2


@pytest.mark.parametrize(
    ("failures", "retries", "succeeds"),
    [
        pytest.param([503, 429], 6, True, id="two-transient-then-ok"),
        pytest.param([502, 504, 500], 2, False, id="more-failures-than-retries"),
        pytest.param([400], 6, False, id="400-is-not-retried"),
    ],
)
def test_read_calls_retry_transient_failures(
    server: ScriptServer, failures: list[int], retries: int, succeeds: bool
) -> None:
    answers = list(failures)

    def script(seen: Seen) -> Reply:
        if answers:
            return Reply(answers.pop(0), {"detail": "busy"}, headers={"Retry-After": "0"})
        return Reply(200, {"name": "big", "task_type": "vector"})

    server.script = script
    if succeeds:
        data = call(server.url, lambda c: c.get_dataset("test/big"), retries=retries)
        assert data["name"] == "big"
        assert len(server.requests()) == len(failures) + 1
    else:
        err = catch(server.url, lambda c: c.get_dataset("test/big"), retries=retries)
        assert isinstance(err, ApiError)
        expected = 1 if failures == [400] else retries + 1
        assert len(server.requests()) == expected


def test_dropped_connection_is_a_transport_error(server: ScriptServer) -> None:
    server.script = lambda seen: Reply(drop=True)
    err = catch(server.url, lambda c: c.put_label("u", "ls", b"{}"))
    assert isinstance(err, TransportError)
    assert err.kind == "connection"


def test_the_key_never_appears_in_errors_reprs_or_logs(
    server: ScriptServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    # A hostile server that echoes the Authorization header back in its error body.
    def echo(seen: Seen) -> Reply:
        return Reply(401, {"detail": f"bad token {seen.headers['Authorization']}"})

    server.script = echo
    errors: list[BaseException] = [catch(server.url, lambda c: c.check_key())]
    server.script = lambda seen: Reply(drop=True)
    errors.append(catch(server.url, lambda c: c.put_label("u", "ls", b"{}")))
    errors.append(catch(f"http://127.0.0.1:{_closed_port()}/", lambda c: c.check_key()))
    server.script = lambda seen: Reply(200, {}, delay=1.0)
    errors.append(catch(server.url, lambda c: c.check_key(), timeout=0.2))
    with pytest.raises(UsageError) as info:
        SegmentsClient("http://example.com/", API_KEY)
    errors.append(info.value)
    texts = [caplog.text, repr(SegmentsClient(server.url, API_KEY))]
    for err in errors:
        texts += [str(err), repr(err), "".join(traceback.format_exception(err))]
    assert "***" in str(errors[0])  # the echoed key was scrubbed
    for text in texts:
        assert API_KEY not in text

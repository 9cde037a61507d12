"""The upload engine against a scriptable server: retries, rate control, aborts, stops."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from enginekit import API_KEY, Reply, ScriptServer, Seen, make_jobs, ok_script, per_label

from upload_preds.client import SegmentsClient
from upload_preds.engine import UploadEngine
from upload_preds.engineconfig import EngineConfig
from upload_preds.errors import AuthError, ServerFailingError
from upload_preds.journal import Journal
from upload_preds.outcomes import (
    SKIP_ALREADY_UPLOADED,
    SKIP_NOT_SENT,
    SKIP_PROTECTED,
    EngineEvent,
    EngineResult,
    EventKind,
)
from upload_preds.records import LabelJob

FAST = {"backoff_base": 0.01, "backoff_cap": 0.05}


def upload(
    url: str,
    jobs: Iterable[LabelJob],
    *,
    events: list[EngineEvent] | None = None,
    journal: Journal | None = None,
    protected: frozenset[str] = frozenset(),
    precheck: Callable[[LabelJob], str | None] | None = None,
    control: Callable[[UploadEngine, EngineEvent], None] | None = None,
    timeout: float = 10.0,
    **config: Any,
) -> EngineResult:
    cfg = EngineConfig(**{**FAST, **config})
    seen_events = events if events is not None else []

    async def main() -> EngineResult:
        async with SegmentsClient(url, API_KEY, concurrency=cfg.concurrency, timeout=timeout) as c:
            engine: UploadEngine

            def on_event(ev: EngineEvent) -> None:
                seen_events.append(ev)
                if control is not None:
                    control(engine, ev)

            engine = UploadEngine(
                c,
                cfg,
                journal=journal,
                protected=protected,
                precheck=precheck,
                on_event=on_event,
            )
            return await engine.run(jobs)

    result = asyncio.run(main())
    assert_accounted(result, seen_events)
    return result


def assert_accounted(result: EngineResult, events: list[EngineEvent]) -> None:
    """Every job has exactly one final outcome, in the counts and in the events."""
    assert result.jobs == result.uploaded + result.failed_total + result.skipped_total
    finals = [e for e in events if e.kind is not EventKind.RETRYING]
    assert len(finals) == result.jobs
    assert len({id(e.job) for e in finals}) == result.jobs


RETRYABLE = [
    pytest.param(Reply(status), id=str(status)) for status in (408, 425, 429, 500, 502, 503, 504)
] + [pytest.param(Reply(drop=True), id="dropped-connection")]


@pytest.mark.parametrize("first", RETRYABLE)
def test_transient_failures_are_retried(server: ScriptServer, first: Reply) -> None:
    jobs = make_jobs(3)
    server.script = per_label({"s0001": [first]})
    events: list[EngineEvent] = []
    result = upload(server.url, jobs, events=events, concurrency=2)
    assert result.uploaded == 3
    assert result.retries == 1
    puts = [s.label_key for s in server.requests("PUT")]
    assert sorted(puts) == sorted(
        ["s0000/predictions", "s0001/predictions", "s0001/predictions", "s0002/predictions"]
    )
    retry = [e for e in events if e.kind is EventKind.RETRYING]
    assert [(e.job.sample_uuid, e.attempt) for e in retry] == [("s0001", 1)]


def test_timeouts_are_retried(server: ScriptServer) -> None:
    server.script = per_label({"s0000": [Reply(200, {}, delay=1.0)]})
    result = upload(server.url, make_jobs(1), timeout=0.3)
    assert (result.uploaded, result.retries) == (1, 1)


def test_retries_give_up_after_the_configured_count(server: ScriptServer) -> None:
    server.script = lambda seen: Reply(503, {"detail": "down for maintenance"})
    events: list[EngineEvent] = []
    result = upload(server.url, make_jobs(2), events=events, retries=3, concurrency=1)
    assert result.uploaded == 0
    assert result.failed == {"HTTP 503 after 3 retries": 2}
    assert len(server.requests("PUT")) == 2 * 4
    failed = [e for e in events if e.kind is EventKind.FAILED]
    assert {(e.status, e.message) for e in failed} == {(503, "down for maintenance")}


@pytest.mark.parametrize(
    ("status", "body", "reason", "message"),
    [
        pytest.param(
            400,
            {"attributes": ["Unknown category id 9."]},
            "rejected by the server (400)",
            "attributes: Unknown category id 9.",
            id="400",
        ),
        pytest.param(404, {"detail": "Not found."}, "not found (404)", "Not found.", id="404"),
        pytest.param(409, {"detail": "Busy."}, "conflict (409)", "Busy.", id="409"),
        pytest.param(
            422,
            {"label_status": ["Not a valid choice."]},
            "rejected by the server (422)",
            "label_status: Not a valid choice.",
            id="422",
        ),
    ],
)
def test_client_errors_fail_the_job_at_once_with_the_servers_message(
    server: ScriptServer, status: int, body: Any, reason: str, message: str
) -> None:
    server.script = per_label({"s0001": [Reply(status, body)]})
    events: list[EngineEvent] = []
    result = upload(server.url, make_jobs(3), events=events)
    assert result.uploaded == 2
    assert result.failed == {reason: 1}
    assert result.retries == 0
    assert [s.label_key for s in server.requests("PUT")].count("s0001/predictions") == 1
    (failed,) = [e for e in events if e.kind is EventKind.FAILED]
    assert (failed.job.sample_uuid, failed.status, failed.message) == ("s0001", status, message)


def _arrivals(server: ScriptServer, uuid: str) -> list[float]:
    return [s.t for s in server.requests("PUT") if s.label_key.startswith(uuid + "/")]


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured(server: ScriptServer, form: str) -> None:
    def script(seen: Seen) -> Reply:
        if len(_arrivals(server, "s0000")) == 1:
            # HTTP dates have whole-second resolution: 2 s ahead is at least 1 s.
            value = (
                "1" if form == "seconds" else email.utils.formatdate(time.time() + 2, usegmt=True)
            )
            return Reply(503, {"detail": "busy"}, {"Retry-After": value})
        return ok_script(seen)

    server.script = script
    result = upload(server.url, make_jobs(1), backoff_base=0.001)
    assert result.uploaded == 1
    first, second = _arrivals(server, "s0000")
    assert second - first >= 0.9


def test_a_429_pauses_every_worker(server: ScriptServer) -> None:
    """After one worker is throttled, the others send nothing for Retry-After seconds."""
    throttled_at: list[float] = []

    def script(seen: Seen) -> Reply:
        if not throttled_at and len(server.requests("PUT")) == 20:
            throttled_at.append(seen.t)
            return Reply(429, {"detail": "Request was throttled."}, {"Retry-After": "1"})
        return Reply(200, {}, delay=0.02)

    server.script = script
    result = upload(server.url, make_jobs(120), concurrency=8)
    assert result.uploaded == 120
    assert result.throttled == 1
    (t429,) = throttled_at
    # Requests already on the wire may land just after; then silence until the pause ends.
    quiet = [s for s in server.requests("PUT") if t429 + 0.15 < s.t < t429 + 0.85]
    assert quiet == []
    assert any(s.t >= t429 + 0.9 for s in server.requests("PUT"))


@pytest.mark.slow
def test_concurrency_adapts_down_under_throttling_and_back_up(server: ScriptServer) -> None:
    start: list[float] = []

    def script(seen: Seen) -> Reply:
        if not start:
            start.append(seen.t)
        if seen.t - start[0] < 2.0:  # two seconds of throttling, no Retry-After
            return Reply(429, {"detail": "Request was throttled."}, delay=0.05)
        return Reply(200, {}, delay=0.05)

    server.script = script
    result = upload(server.url, make_jobs(1500), concurrency=16, retries=50, backoff_cap=0.2)
    assert result.uploaded == 1500
    puts = server.requests("PUT")
    t0 = start[0]
    late_throttle = [s.in_flight for s in puts if 1.5 < s.t - t0 < 2.0]
    recovered = [s.in_flight for s in puts[-len(puts) // 5 :]]
    assert late_throttle, "the throttled phase saw no requests"
    assert max(late_throttle) <= 6
    assert result.min_concurrency <= 4
    assert max(recovered) >= 12


def test_rate_cap_is_a_token_bucket(server: ScriptServer) -> None:
    result = upload(server.url, make_jobs(90), concurrency=8, rate=60.0)
    assert result.uploaded == 90
    times = sorted(s.t for s in server.requests("PUT"))
    span = times[-1] - times[0]
    assert span >= 89 / 60 * 0.8
    # No half-second window holds much more than its share (30).
    worst = max(sum(1 for t in times if a <= t < a + 0.5) for a in times)
    assert worst <= 30 * 1.3


def test_a_rejected_key_aborts_within_a_few_requests(server: ScriptServer) -> None:
    server.script = lambda seen: Reply(401, {"detail": "Invalid token."})
    result = upload(server.url, make_jobs(500), concurrency=4)
    assert isinstance(result.abort, AuthError)
    assert result.stopped
    assert len(server.requests("PUT")) <= 8
    assert result.uploaded == 0
    assert result.failed.get("API key rejected (401)", 0) >= 1
    assert result.jobs < 500  # it stopped reading the input


def test_persistent_server_failure_aborts(server: ScriptServer) -> None:
    server.script = lambda seen: Reply(500, {"detail": "boom"})
    result = upload(
        server.url, make_jobs(1000), concurrency=2, retries=1, max_consecutive_failures=10
    )
    assert isinstance(result.abort, ServerFailingError)
    assert "10 labels in a row" in str(result.abort)
    assert result.failed_total >= 10
    assert len(server.requests("PUT")) <= (10 + 2 + 2) * 2


def test_a_success_resets_the_failure_streak(server: ScriptServer) -> None:
    # Every third label fails for good; the streak never reaches the limit.
    server.script = lambda seen: (
        Reply(500, {}) if int(seen.label_key[1:5]) % 3 == 0 else ok_script(seen)
    )
    result = upload(server.url, make_jobs(60), concurrency=1, retries=0, max_consecutive_failures=2)
    assert result.abort is None
    assert (result.uploaded, result.failed_total) == (40, 20)


def test_graceful_stop_finishes_in_flight_and_accounts_for_every_job(
    server: ScriptServer,
) -> None:
    server.script = lambda seen: Reply(200, {}, delay=0.2)

    def control(engine: UploadEngine, ev: EngineEvent) -> None:
        if ev.kind is EventKind.UPLOADED and engine.result.uploaded == 6:
            engine.request_stop()

    result = upload(server.url, make_jobs(300), concurrency=4, control=control)
    assert result.stopped
    assert result.abort is None
    assert 6 <= result.uploaded < 300
    # Everything that reached the server finished and was counted as uploaded.
    assert len(server.requests("PUT")) == result.uploaded
    assert set(result.skipped) == {SKIP_NOT_SENT}
    assert result.jobs < 300


def test_hard_cancel_stops_at_once(server: ScriptServer) -> None:
    slow = 8.0  # the answers in flight; a stop that waited for them would take this long
    server.script = per_label({"s0000": [Reply(200, {})]}, lambda seen: Reply(200, {}, delay=slow))

    def control(engine: UploadEngine, ev: EngineEvent) -> None:
        if ev.kind is EventKind.UPLOADED:
            loop = asyncio.get_running_loop()
            loop.call_later(0.2, engine.cancel)

    started = time.monotonic()
    result = upload(server.url, make_jobs(50), concurrency=4, control=control, timeout=30)
    # Compared with the answers' delay, not a fixed time: a loaded machine cannot fail it.
    assert time.monotonic() - started < slow / 2
    assert result.uploaded == 1
    assert result.skipped_total == result.jobs - 1


def test_a_cancel_during_the_graceful_wait_stops_at_once(server: ScriptServer) -> None:
    # A second Ctrl-C that comes after the first one's grace period has begun: the
    # graceful wait for the requests in flight must end there, not run its course.
    slow = 8.0
    server.script = per_label({"s0000": [Reply(200, {})]}, lambda seen: Reply(200, {}, delay=slow))

    def control(engine: UploadEngine, ev: EngineEvent) -> None:
        if ev.kind is EventKind.UPLOADED:
            loop = asyncio.get_running_loop()
            loop.call_later(0.2, engine.request_stop)
            loop.call_later(1.0, engine.cancel)

    started = time.monotonic()
    result = upload(
        server.url,
        make_jobs(50),
        concurrency=4,
        control=control,
        timeout=30,
        grace_period=2 * slow,
    )
    assert time.monotonic() - started < slow / 2
    assert result.stopped
    assert result.uploaded == 1
    assert result.skipped_total == result.jobs - 1


def test_protected_and_precheck_skips(server: ScriptServer) -> None:
    jobs = make_jobs(6)
    result = upload(
        server.url,
        jobs,
        protected=frozenset({"s0001", "s0004"}),
        precheck=lambda job: "other shard" if job.sample_uuid == "s0002" else None,
    )
    assert result.uploaded == 3
    assert result.skipped == {SKIP_PROTECTED: 2, "other shard": 1}
    assert sorted(s.label_key[:5] for s in server.requests("PUT")) == ["s0000", "s0003", "s0005"]


def test_unresolved_jobs_fail_without_a_request(server: ScriptServer) -> None:
    jobs = make_jobs(2)
    jobs[1].sample_uuid = None
    jobs[1].sample_name = "img_9.jpg"
    result = upload(server.url, jobs)
    assert result.failed == {"unknown sample": 1}
    assert len(server.requests("PUT")) == 1


def test_async_input_is_consumed_lazily(server: ScriptServer) -> None:
    produced: list[int] = []

    async def gen() -> Any:
        for job in make_jobs(200):
            produced.append(1)
            yield job

    server.script = lambda seen: Reply(200, {}, delay=0.01)
    max_ahead: list[int] = []

    def control(engine: UploadEngine, ev: EngineEvent) -> None:
        max_ahead.append(len(produced) - engine.result.uploaded)

    result = upload(server.url, gen(), concurrency=4, control=control)  # type: ignore[arg-type]
    assert result.uploaded == 200
    # Never more read ahead than the queue (2 x 4) + workers (4) + one held by the feeder.
    assert max(max_ahead) <= 4 * 2 + 4 + 2


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite3") as j:
        yield j


def test_journal_skips_identical_payloads_and_resends_changed_ones(
    server: ScriptServer, journal: Journal
) -> None:
    jobs = make_jobs(20)
    first = upload(server.url, jobs, journal=journal)
    assert first.uploaded == 20
    second = upload(server.url, make_jobs(20), journal=journal)
    assert (second.uploaded, second.skipped) == (0, {SKIP_ALREADY_UPLOADED: 20})
    changed = make_jobs(20)
    for job in changed[:3]:
        job.score = 0.99
    third = upload(server.url, changed, journal=journal)
    assert (third.uploaded, third.skipped) == (3, {SKIP_ALREADY_UPLOADED: 17})
    everything = upload(server.url, changed, journal=journal, resume=False)
    assert everything.uploaded == 20
    assert len(server.requests("PUT")) == 20 + 0 + 3 + 20


def test_journal_records_only_successes_and_never_the_key(
    server: ScriptServer, journal: Journal, tmp_path: Path
) -> None:
    server.script = per_label({"s0002": [Reply(400, {"detail": "no"})]})
    upload(server.url, make_jobs(5), journal=journal)
    journal.flush()
    assert journal.count() == 4
    rerun = upload(server.url, make_jobs(5), journal=journal)
    assert rerun.uploaded == 1  # the failed one is sent again
    journal.close()
    for f in tmp_path.iterdir():
        assert API_KEY.encode() not in f.read_bytes()


def test_the_key_is_not_in_engine_logs_events_or_results(
    server: ScriptServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = lambda seen: Reply(401, {"detail": f"bad {seen.headers['Authorization']}"})
    events: list[EngineEvent] = []
    result = upload(server.url, make_jobs(5), events=events)
    texts = [caplog.text, repr(result), str(result.abort), repr(result.abort)]
    texts += [repr(e) for e in events]
    for text in texts:
        assert API_KEY not in text

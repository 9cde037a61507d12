"""The guard during the run, against the real sandbox: refreshes, the last
refresh before the last batch, ``--verify``; and a throttling 2xx is no upload.

A "person" changes a label through the official SDK while the engine runs; the
trigger is an engine event (the n-th upload), not a clock, so the tests do not
depend on the machine's speed. The engine is paced (``rate``) so that the
labels after the trigger are still to be sent when the person acts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_sandboxkit import DATASET, SEEDED, label_jobs, running_sandbox, sample_uuid
from enginekit import API_KEY, Reply, ScriptServer, Seen, make_jobs
from segments import SegmentsClient as SdkClient

from upload_preds.client import SegmentsClient
from upload_preds.engine import UploadEngine
from upload_preds.engineconfig import EngineConfig
from upload_preds.journal import Journal
from upload_preds.outcomes import SKIP_PROTECTED, EngineEvent, EngineResult, EventKind
from upload_preds.preflight import Guard, is_protected
from upload_preds.records import LabelJob
from upload_preds.sandbox.server import SandboxHandle

N = 60
TARGET = N - 5  # the sample a person starts working on mid-run
SEEDED_PROTECTED = sum(1 for status in SEEDED.values() if is_protected(status))


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(N) as box:
        yield box


def person_labels(box: SandboxHandle, i: int, status: str = "LABELED") -> None:
    """A person saves sample i's ground-truth label with ``status`` (through the SDK)."""
    with SdkClient(API_KEY, api_url=box.url.rstrip("/")) as sdk:
        sdk.add_label(
            sample_uuid(i),
            "ground-truth",
            {"format_version": "0.1", "annotations": []},
            label_status=status,
        )


def status_of(box: SandboxHandle, i: int) -> str:
    with SdkClient(API_KEY, api_url=box.url.rstrip("/")) as sdk:
        return str(sdk.get_label(sample_uuid(i), "ground-truth").label_status)


def run_guarded(
    box: SandboxHandle,
    jobs: Any,
    *,
    refresh: float,
    trigger_after: int | None = None,
    with_guard: bool = True,
    **config: Any,
) -> tuple[EngineResult, Guard]:
    """Run the engine with a guard snapshot taken first; the person acts after
    ``trigger_after`` uploads."""
    cfg = EngineConfig(**{"concurrency": 2, "rate": 40.0, **config})

    async def main() -> tuple[EngineResult, Guard]:
        async with SegmentsClient(box.url, API_KEY, concurrency=4) as client:
            guard = Guard(client, DATASET, refresh_interval=refresh)
            await guard.snapshot("ground-truth", keep_labels=False)
            uploads = 0

            def on_event(ev: EngineEvent) -> None:
                nonlocal uploads
                if ev.kind is EventKind.UPLOADED:
                    uploads += 1
                    if uploads == trigger_after:
                        person_labels(box, TARGET)

            engine = UploadEngine(
                client, cfg, guard=guard if with_guard else None, on_event=on_event
            )
            return await engine.run(jobs), guard

    return asyncio.run(main())


def test_a_label_a_person_starts_mid_run_is_skipped_after_a_refresh(
    sandbox: SandboxHandle,
) -> None:
    jobs = label_jobs(N, labelset="ground-truth")
    result, guard = run_guarded(sandbox, jobs, refresh=0.05, trigger_after=10)
    assert result.skipped == {SKIP_PROTECTED: SEEDED_PROTECTED + 1}
    assert result.uploaded == N - SEEDED_PROTECTED - 1
    assert guard.refreshes >= 1
    assert status_of(sandbox, TARGET) == "LABELED"


def test_the_last_batch_waits_for_one_more_refresh(sandbox: SandboxHandle) -> None:
    jobs = label_jobs(N, labelset="ground-truth")

    async def feed() -> AsyncIterator[LabelJob]:
        for job in jobs:
            yield job
        # The input is exhausted; the last jobs are still queued (the engine is
        # paced). The person saves the label of the very last sample now.
        person_labels(sandbox, N - 1)

    # No periodic refresh within the run: only the last one can see it.
    result, guard = run_guarded(sandbox, feed(), refresh=3600.0)
    assert result.skipped == {SKIP_PROTECTED: SEEDED_PROTECTED + 1}
    assert guard.refreshes == 1
    assert status_of(sandbox, N - 1) == "LABELED"


def test_verify_reads_each_status_just_before_the_put(sandbox: SandboxHandle) -> None:
    # No guard at all (no snapshot, no refresh): only --verify's GET can see the
    # seeded labels and the one the person saves mid-run.
    jobs = label_jobs(N, labelset="ground-truth")
    route = "/labels/{sample_uuid}/{labelset}/"
    before = sum(sandbox.stats()["requests"].get("GET", {}).get(route, {}).values())
    result, _ = run_guarded(
        sandbox, jobs, refresh=3600.0, trigger_after=10, with_guard=False, verify=True
    )
    after = sum(sandbox.stats()["requests"]["GET"][route].values())
    assert after - before == N  # one GET per label, 404 for those with none
    assert result.skipped == {SKIP_PROTECTED: SEEDED_PROTECTED + 1}
    assert status_of(sandbox, TARGET) == "LABELED"


def test_without_a_refresh_the_label_is_overwritten(sandbox: SandboxHandle) -> None:
    """The control: with the guard's refresh out of the picture (a static set, as
    before), the same scenario overwrites the person's label."""
    jobs = label_jobs(N, labelset="ground-truth")
    cfg = EngineConfig(concurrency=2, rate=40.0)

    async def main() -> EngineResult:
        async with SegmentsClient(sandbox.url, API_KEY, concurrency=4) as client:
            uploads = 0

            def on_event(ev: EngineEvent) -> None:
                nonlocal uploads
                uploads += 1
                if uploads == 10:
                    person_labels(sandbox, TARGET)

            return await UploadEngine(client, cfg, on_event=on_event).run(jobs)

    result = asyncio.run(main())
    assert result.uploaded == N
    assert status_of(sandbox, TARGET) == "PRELABELED"


THROTTLED = {"detail": "Request was throttled. Expected available in 1 seconds."}


def test_a_2xx_saying_throttled_is_retried_and_never_journalled(
    server: ScriptServer, tmp_path: Path
) -> None:
    calls: dict[str, int] = {}

    def script(seen: Seen) -> Reply:
        key = seen.label_key
        calls[key] = calls.get(key, 0) + 1
        uuid = key.split("/")[0]
        if uuid == "s0001" or (uuid == "s0002" and calls[key] == 1):
            return Reply(200, THROTTLED)  # always / once
        return Reply(200, {"sample_uuid": uuid, "updated_at": "2026-01-01T00:00:00.000001Z"})

    server.script = script
    jobs = make_jobs(4)
    with Journal(tmp_path / "j.sqlite3") as journal:

        async def main() -> EngineResult:
            async with SegmentsClient(server.url, API_KEY, concurrency=2) as client:
                cfg = EngineConfig(concurrency=2, retries=2, backoff_base=0.01, backoff_cap=0.02)
                return await UploadEngine(client, cfg, journal=journal).run(jobs)

        result = asyncio.run(main())
        assert result.uploaded == 3
        assert result.failed == {"throttled (429) after 2 retries": 1}
        assert result.throttled == 4  # s0001: 3 attempts, s0002: 1
        host = SegmentsClient(server.url, API_KEY).host_key
        assert journal.lookup(host, "s0001", "predictions") is None
        entry = journal.lookup(host, "s0002", "predictions")
        assert entry is not None
        assert entry.stamp == "2026-01-01T00:00:00.000001Z"

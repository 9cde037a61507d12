"""Client, preflight, engine and journal against the real sandbox, read back with the SDK."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from engine_sandboxkit import (
    DATASET,
    SEEDED,
    label_jobs,
    running_sandbox,
    sample_name,
    sample_uuid,
)
from enginekit import API_KEY
from segments import SegmentsClient as SdkClient

from upload_preds import preflight
from upload_preds.client import SegmentsClient
from upload_preds.engine import UploadEngine
from upload_preds.engineconfig import EngineConfig
from upload_preds.errors import AuthError, SetupError
from upload_preds.journal import Journal
from upload_preds.outcomes import SKIP_PROTECTED, EngineResult
from upload_preds.records import LabelJob
from upload_preds.sandbox.faults import Faults
from upload_preds.sandbox.server import SandboxHandle

T = TypeVar("T")
N = 300


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(N) as box:
        yield box


def with_client(
    box: SandboxHandle, fn: Callable[[SegmentsClient], Awaitable[T]], key: str = API_KEY
) -> T:
    async def main() -> T:
        async with SegmentsClient(box.url, key, concurrency=16) as client:
            return await fn(client)

    return asyncio.run(main())


def run_engine(
    box: SandboxHandle, jobs: list[LabelJob], **kwargs: Any
) -> tuple[EngineResult, SegmentsClient]:
    config = kwargs.pop("config", EngineConfig(concurrency=16, backoff_base=0.05))

    async def go(client: SegmentsClient) -> tuple[EngineResult, SegmentsClient]:
        return await UploadEngine(client, config, **kwargs).run(jobs), client

    return with_client(box, go)


def put_counts(box: SandboxHandle) -> dict[str, int]:
    out: dict[str, int] = {}
    for by_status in box.stats()["requests"].get("PUT", {}).values():
        for status, n in by_status.items():
            out[status] = out.get(status, 0) + n
    return out


def sdk(box: SandboxHandle) -> Any:
    return SdkClient(API_KEY, api_url=box.url.rstrip("/"))


def assert_on_server(box: SandboxHandle, jobs: list[LabelJob]) -> None:
    client = sdk(box)
    for job in jobs:
        label = client.get_label(job.sample_uuid, job.labelset)
        assert label.label_status == job.label_status
        assert label.score == pytest.approx(job.score)
        got = label.attributes.model_dump(mode="json", exclude_none=True)
        want = job.attributes
        assert got["format_version"] == want["format_version"]
        assert [
            (a["id"], a["category_id"], a["type"], a["points"]) for a in got["annotations"]
        ] == [(a["id"], a["category_id"], a["type"], a["points"]) for a in want["annotations"]]


def test_preflight_finds_dataset_labelsets_and_samples(sandbox: SandboxHandle) -> None:
    async def flow(c: SegmentsClient) -> Any:
        await preflight.check_key(c)
        name = await preflight.discover_dataset(c, sample_uuid(7))
        info = await preflight.get_dataset(c, name)
        index = await preflight.fetch_sample_index(c, name, per_page=100)
        guard = preflight.Guard(c, name, per_page=100)
        await guard.snapshot("ground-truth", keep_labels=False)
        protected = {u for u in map(sample_uuid, range(N)) if guard.protected(u, "ground-truth")}
        return name, info, index, protected

    name, info, index, protected = with_client(sandbox, flow)
    assert name == DATASET
    assert info.task_type == "vector"
    assert [c["name"] for c in info.categories] == ["car", "truck", "bike"]
    assert set(info.labelsets) >= {"ground-truth", "predictions"}
    assert len(index) == N
    assert index.uuid_for(sample_name(123)) == sample_uuid(123)
    assert index.uuid_for("street/img_99999.jpg") is None
    assert sample_name(123) in index.suggest("street/img_0123.jpg")
    human = {sample_uuid(i) for i, status in SEEDED.items() if preflight.is_protected(status)}
    assert protected == human
    # One listing pass: 3 pages of 100 (+1 that ends on "Invalid page.") per listing.
    gets = sandbox.stats()["requests"]["GET"]
    assert sum(sum(v.values()) for route, v in gets.items() if "samples" in route) <= 2 * 4 + 1


def test_preflight_errors_name_the_fix(sandbox: SandboxHandle) -> None:
    with pytest.raises(AuthError) as auth:
        with_client(sandbox, preflight.check_key, key="wrong-key")
    assert "rejected" in str(auth.value)

    async def missing_dataset(c: SegmentsClient) -> Any:
        return await preflight.get_dataset(c, "test/nope")

    with pytest.raises(SetupError) as ds:
        with_client(sandbox, missing_dataset)
    assert "--dataset" in (ds.value.hint or "")

    async def labelset(c: SegmentsClient, create: bool) -> bool:
        info = await preflight.get_dataset(c, DATASET)
        return await preflight.ensure_labelset(
            c, info, "model-v2", create=create, description="v2 predictions"
        )

    with pytest.raises(SetupError) as ls:
        with_client(sandbox, lambda c: labelset(c, False))
    assert "--create-labelset" in (ls.value.hint or "")
    assert with_client(sandbox, lambda c: labelset(c, True)) is True
    assert with_client(sandbox, lambda c: labelset(c, False)) is False
    names = {ls.name: ls.description for ls in sdk(sandbox).get_labelsets(DATASET)}
    assert names["model-v2"] == "v2 predictions"


@pytest.mark.slow
def test_upload_survives_errors_drops_and_throttling(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(Faults(error_rate=0.05, drop_rate=0.01, throttle_rps=300), seed=7)
    jobs = label_jobs(N)
    result, _ = run_engine(sandbox, jobs)
    assert (result.uploaded, result.failed, result.abort) == (N, {}, None)
    assert result.retries > 0
    sandbox.set_faults(Faults())
    assert_on_server(sandbox, jobs)


def test_guard_keeps_human_labels_unless_overwrite(sandbox: SandboxHandle) -> None:
    jobs = label_jobs(6, labelset="ground-truth")

    async def guarded(c: SegmentsClient) -> EngineResult:
        guard = preflight.Guard(c, DATASET)
        await guard.snapshot("ground-truth", keep_labels=False)
        config = EngineConfig(concurrency=16, backoff_base=0.05)
        return await UploadEngine(c, config, guard=guard).run(jobs)

    result = with_client(sandbox, guarded)
    assert result.skipped == {SKIP_PROTECTED: 3}
    client = sdk(sandbox)
    for i, status in SEEDED.items():
        label = client.get_label(sample_uuid(i), "ground-truth")
        if preflight.is_protected(status):
            assert (label.label_status, label.attributes.annotations) == (status, [])
        else:
            assert label.label_status == "PRELABELED"
            assert len(label.attributes.annotations) == 2
    overwrite, _ = run_engine(sandbox, label_jobs(6, labelset="ground-truth"))
    assert overwrite.uploaded == 6
    assert_on_server(sandbox, jobs)


def test_wrong_key_aborts_within_a_few_requests(sandbox: SandboxHandle) -> None:
    async def go(client: SegmentsClient) -> EngineResult:
        return await UploadEngine(client, EngineConfig(concurrency=4)).run(label_jobs(N))

    result = with_client(sandbox, go, key="not-the-key")
    assert isinstance(result.abort, AuthError)
    assert sum(put_counts(sandbox).values()) <= 8


@pytest.mark.slow
def test_kill_9_then_rerun_resends_at_most_twice_the_concurrency(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    concurrency = 8
    sandbox.set_faults(Faults(latency_ms=5))
    journal = tmp_path / "journal.sqlite3"
    runner = Path(__file__).with_name("upload_runner.py")
    cmd = [sys.executable, str(runner), sandbox.url, API_KEY, str(journal), str(N)]
    cmd.append(str(concurrency))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while put_counts(sandbox).get("200", 0) + put_counts(sandbox).get("201", 0) < N // 3:
        assert time.monotonic() < deadline, "the upload did not start"
        assert proc.poll() is None, "the upload finished before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    first = sum(put_counts(sandbox).values())
    assert first < N
    rerun = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert '"already uploaded"' in rerun.stdout
    total = sum(put_counts(sandbox).values())
    assert N <= total <= N + 2 * concurrency
    sandbox.set_faults(Faults())
    labels = sandbox.stats()["labels"]
    stored = sum(labels[DATASET]["predictions"].values())
    assert stored == N
    with Journal(journal) as j:
        assert j.count() == N
    assert API_KEY.encode() not in journal.read_bytes()

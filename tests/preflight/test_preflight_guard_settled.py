"""A targeted guard's refreshes read only the samples still to be written.

``Guard(samples=...)`` reads each of the file's samples' labels at the
snapshot and at every refresh. Once this run has written a sample's label, or
skipped it as protected, no PUT of it follows, so a refresh need not read it:
the engine settles it (``Guard.settle``) and later refreshes leave it out. The
label reads are counted by the forwarding proxy of ``preflightkit`` in front
of a real sandbox, per sample, against the refreshes that had started when the
engine settled that sample; a person who starts a label mid-run is still
never overwritten (read back with the official SDK).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from preflightkit import DATASET, CappingProxy, sample_uuid
from segments import SegmentsClient as SdkClient

from upload_preds.client import SegmentsClient
from upload_preds.engine import UploadEngine
from upload_preds.engineconfig import EngineConfig
from upload_preds.outcomes import SKIP_PROTECTED, EngineEvent, EventKind
from upload_preds.preflight import Guard
from upload_preds.records import LabelJob, Location
from upload_preds.sandbox import SandboxHandle

MakeSandbox = Callable[..., SandboxHandle]
MakeProxy = Callable[..., CappingProxy]

N = 40
SEEDED = 3  # a sample whose label a person made before the run
TARGET = N - 4  # the sample a person starts on mid-run
BOX = {"id": 1, "category_id": 1, "type": "bbox", "points": [[1.0, 2.0], [30.0, 40.0]]}


def jobs() -> list[LabelJob]:
    return [
        LabelJob(
            sample_uuid=sample_uuid(i),
            sample_name=None,
            labelset="ground-truth",
            label_status="PRELABELED",
            attributes={"format_version": "0.1", "annotations": [BOX]},
            score=None,
            locs=(Location("p.jsonl", i + 1),),
        )
        for i in range(N)
    ]


def test_refreshes_skip_the_samples_the_run_is_done_with(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy
) -> None:
    box = make_sandbox(N, {SEEDED: "REVIEWED"})
    proxy = make_proxy(box.url)
    # The refreshes that had started when each sample was settled (uploaded or skipped).
    started_at_settle: dict[str, int] = {}

    async def main() -> tuple[Guard, dict[str, int]]:
        async with SegmentsClient(proxy.url, box.api_key, concurrency=4) as client:
            guard = Guard(
                client, DATASET, refresh_interval=0.05, samples=[sample_uuid(i) for i in range(N)]
            )
            await guard.snapshot("ground-truth", keep_labels=False)
            uploads = 0

            def on_event(ev: EngineEvent) -> None:
                nonlocal uploads
                uuid = ev.job.sample_uuid
                assert uuid is not None
                if ev.kind in (EventKind.UPLOADED, EventKind.SKIPPED):
                    started_at_settle[uuid] = guard.refreshes
                if ev.kind is EventKind.UPLOADED:
                    uploads += 1
                    if uploads == 10:  # a person starts on TARGET mid-run
                        with SdkClient(box.api_key, api_url=box.url) as sdk:
                            sdk.add_label(
                                sample_uuid(TARGET),
                                "ground-truth",
                                {"format_version": "0.1", "annotations": []},
                                label_status="LABELED",
                            )

            # Paced, so that the run spans many refreshes.
            config = EngineConfig(concurrency=2, rate=30.0)
            result = await UploadEngine(client, config, guard=guard, on_event=on_event).run(jobs())
            return guard, result.skipped

    guard, skipped = asyncio.run(main())
    assert skipped == {SKIP_PROTECTED: 2}
    with SdkClient(box.api_key, api_url=box.url) as sdk:
        assert sdk.get_label(sample_uuid(TARGET), "ground-truth").label_status == "LABELED"
        assert sdk.get_label(sample_uuid(SEEDED), "ground-truth").label_status == "REVIEWED"
    assert guard.refreshes >= 5  # the run spanned many refreshes

    reads = Counter(proxy.label_reads)
    assert set(started_at_settle) == {sample_uuid(i) for i in range(N)}
    for uuid, started in started_at_settle.items():
        # The snapshot, and at most one read per refresh begun before it was settled.
        assert 1 <= reads[uuid] <= 1 + started, (uuid, reads[uuid], started)
    # The reads shrink as the run goes: far fewer than every sample at every refresh.
    assert sum(reads.values()) < N * (1 + guard.refreshes) * 3 / 4

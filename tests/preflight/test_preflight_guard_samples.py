"""The guard reads only the file's samples when they are few (issue 12 part 4).

A file naming few samples of a large dataset, by uuid, by name or both,
gets its guard from one ``GET /labels/{uuid}/{labelset}/`` per sample
instead of the label set listing; a file covering the dataset keeps the
listing. Requests are counted by the forwarding proxy of ``preflightkit``;
labels are read back with the official SDK.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from preflightkit import DATASET, CappingProxy, prediction, sample_uuid
from segments import SegmentsClient as SdkClient

from clikit import Cli, write_jsonl
from upload_preds.client import SegmentsClient
from upload_preds.preflight import Guard
from upload_preds.sandbox import SandboxHandle

MakeSandbox = Callable[..., SandboxHandle]
MakeProxy = Callable[..., CappingProxy]


def _guard_listings(proxy: CappingProxy) -> list[dict[str, str]]:
    return [q for q in proxy.queries if "labelset" in q]


def _sdk_status(box: SandboxHandle, i: int) -> str:
    sdk = SdkClient(box.api_key, api_url=box.url)
    return str(sdk.get_label(sample_uuid(i), "ground-truth").label_status)


def test_a_uuid_file_guard_reads_only_its_samples(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    box = make_sandbox(2500, {7: "REVIEWED", 8: "REVIEWED"})  # three pages of 1000
    proxy = make_proxy(box.url)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in (7, 2400)])
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 0, res.stderr
    counts = res.report()["counts"]
    assert (counts["uploaded"], counts["skipped"]) == (1, 1)  # sample 7 is protected
    assert proxy.queries == []  # no listing at all: not the guard's, not the names'
    # The snapshot reads both samples; the refresh before the last batch only the one
    # still to be written (7 was skipped as protected: settled, read no more), unless
    # its PUT was already done by then.
    reads = Counter(proxy.label_reads)
    assert reads[sample_uuid(7)] == 1
    assert reads[sample_uuid(2400)] in (1, 2)
    assert set(reads) == {sample_uuid(7), sample_uuid(2400)}
    assert "guard: 1 samples in 'ground-truth'" in res.stderr
    assert _sdk_status(box, 7) == "REVIEWED"


def test_a_mixed_file_is_guarded_completely(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    box = make_sandbox(2500, {7: "REVIEWED", 9: "LABELED", 1500: "VERIFIED"})
    proxy = make_proxy(box.url)
    rows = [
        prediction(7, by_name=True),  # protected, named
        prediction(9),  # protected, by uuid
        prediction(12, by_name=True),
        prediction(2400),
    ]
    preds = write_jsonl(tmp_path / "p.jsonl", rows)
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["counts"]["uploaded"] == 2
    assert report["skipped_by_reason"] == {"protected": 2}
    assert _guard_listings(proxy) == []
    assert set(proxy.label_reads) == {sample_uuid(i) for i in (7, 9, 12, 2400)}
    assert (_sdk_status(box, 7), _sdk_status(box, 9)) == ("REVIEWED", "LABELED")
    assert _sdk_status(box, 12) == "PRELABELED"


def test_a_file_covering_the_dataset_keeps_the_listing(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    box = make_sandbox(1200, {5: "LABELED"})
    proxy = make_proxy(box.url)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in range(1200)])
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 0, res.stderr
    assert res.report()["skipped_by_reason"] == {"protected": 1}
    assert proxy.label_reads == []
    assert [q["page"] for q in _guard_listings(proxy)][:2] == ["1", "2"]


def test_one_protected_label_among_1000_behind_a_capping_server(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy
) -> None:
    # 1,000 unprotected labels and one whose status the platform added later
    # (the proxy renames it); the proxy caps listing pages at 7 samples too.
    seeded = dict.fromkeys(range(1001), "PRELABELED")
    seeded[613] = "VERIFIED"
    box = make_sandbox(1001, seeded)
    proxy = make_proxy(box.url, max_page=7, rename={"VERIFIED": "SOME_NEW_STATUS"})

    async def main() -> tuple[int, list[int], int]:
        async with SegmentsClient(proxy.url, box.api_key, concurrency=8) as client:
            guard = Guard(client, DATASET, samples=[sample_uuid(i) for i in range(1001)])
            found = await guard.snapshot("ground-truth", keep_labels=False)
            # A person starts on sample 40 mid-run: the next refresh sees it.
            sdk = SdkClient(box.api_key, api_url=box.url)
            await asyncio.to_thread(
                sdk.update_label, sample_uuid(40), "ground-truth", label_status="LABELED"
            )
            await guard.refresh()
            flagged = [i for i in range(1001) if guard.protected(sample_uuid(i), "ground-truth")]
            return found, flagged, guard.refresh_failures

    found, flagged, failures = asyncio.run(main())
    assert found == 1
    assert flagged == [40, 613]
    assert failures == 0
    assert proxy.queries == []  # read label by label, never listed
    assert len(proxy.label_reads) == 2 * 1001

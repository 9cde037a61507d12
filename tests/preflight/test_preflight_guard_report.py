"""What the run says about its guard: failed refreshes in the summary and the JSON
report; ``upload(verify=True)`` from Python reads each status as ``--verify`` does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from preflightkit import DATASET, CappingProxy, prediction

from clikit import Cli, write_jsonl
from upload_preds import upload
from upload_preds.sandbox import SandboxHandle

MakeSandbox = Callable[..., SandboxHandle]
MakeProxy = Callable[..., CappingProxy]


def test_failed_refreshes_are_in_the_summary_and_the_report(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    box = make_sandbox(20, {4: "LABELED"})
    # The snapshot's two listing requests (a page, then "Invalid page.") pass; the
    # refresh before the last batch gets a 503 (and --retries 0 gives up at once).
    proxy = make_proxy(box.url, fail_from=3)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in range(20)])
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json", "--retries", "0")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["skipped_by_reason"] == {"protected": 1}  # the snapshot still holds
    guard = report["guard"]
    assert (guard["refreshes"], guard["refresh_failures"], guard["last_refresh"]) == (1, 1, None)
    assert "503" in guard["last_error"]
    assert "guard refreshes failed: 1 (of 1 refreshes; last successful: none" in res.stderr


def test_a_good_refresh_is_dated_and_not_in_the_summary(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(20, {4: "LABELED"})
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in range(20)])
    cli = Cli(box.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 0, res.stderr
    guard = res.report()["guard"]
    assert (guard["refreshes"], guard["refresh_failures"]) == (1, 0)
    assert guard["last_refresh"].endswith("Z")
    assert "guard refreshes failed" not in res.stderr


def test_upload_verify_reads_each_status_before_its_put(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(30, {2: "LABELED"})
    route = "/labels/{sample_uuid}/{labelset}/"
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in range(30)])
    report = upload(
        preds,
        dataset=DATASET,
        api_url=box.url,
        api_key=box.api_key,
        state=tmp_path / "j.sqlite3",
        verify=True,
    )
    assert report.counts.uploaded == 29
    gets = sum(box.stats()["requests"].get("GET", {}).get(route, {}).values())
    assert gets == 29  # one per label sent; the protected one is skipped before its GET

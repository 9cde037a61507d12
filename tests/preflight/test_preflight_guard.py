"""The guard sees every label people worked on, whatever the server's paging does.

End to end: the real CLI in a subprocess, a real sandbox, and (where the
sandbox cannot show the behaviour) a proxy in front of it that caps page
sizes, answers 502 to large pages, or renames a status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from preflightkit import (
    DATASET,
    CappingProxy,
    prediction,
    sample_uuid,
)

from clikit import Cli, write_jsonl
from upload_preds import preflight
from upload_preds.client import SegmentsClient
from upload_preds.sandbox import SandboxHandle

MakeSandbox = Callable[..., SandboxHandle]
MakeProxy = Callable[..., CappingProxy]


def test_a_server_capping_pages_hides_no_protected_label(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    # 2,500 samples, 250 with LABELED ground truth spread over the whole list;
    # the server serves at most 100 samples a page although 1,000 are asked for.
    labeled = dict.fromkeys(range(0, 2500, 10), "LABELED")
    box = make_sandbox(2500, labeled)
    proxy = make_proxy(box.url, max_page=100)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in range(2500)])
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json", "-j", "32")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["skipped_by_reason"] == {"protected": 250}
    assert report["counts"]["uploaded"] == 2250
    assert "guard: 250 samples in 'ground-truth'" in res.stderr
    # Not one LABELED label was replaced.
    statuses = asyncio.run(_statuses(box))
    assert {i for i, s in statuses.items() if s == "LABELED"} == set(labeled)


def test_the_sandbox_capping_its_pages_hides_no_protected_label(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    # The same reproduction against the sandbox's own cap (no proxy in between).
    labeled = dict.fromkeys(range(3, 1200, 10), "LABELED")
    box = make_sandbox(1200, labeled, max_page_size=100)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i, by_name=True) for i in range(1200)])
    res = Cli(box.url, box.api_key, tmp_path / "j.sqlite3", tmp_path).run(
        preds, "--dataset", DATASET, "--json", "-j", "32"
    )
    assert res.code == 0, res.stderr
    assert res.report()["skipped_by_reason"] == {"protected": 120}
    assert res.report()["counts"]["uploaded"] == 1080


def test_names_resolve_through_a_capped_listing(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    box = make_sandbox(350)
    proxy = make_proxy(box.url, max_page=100)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i, by_name=True) for i in range(350)])
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 0, res.stderr
    assert res.report()["counts"]["uploaded"] == 350
    # Both listings (names, then the guard) read past the short pages, sorted by name.
    assert all(q["sort"] == "name" for q in proxy.queries)
    names = [q for q in proxy.queries if "labelset" not in q]
    assert [q["page"] for q in names] == ["1", "2", "3", "4", "5"]


def test_a_status_the_platform_adds_later_is_protected(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    # The sandbox knows no new status: the proxy renames VERIFIED to one.
    box = make_sandbox(20, {3: "VERIFIED", 4: "PRELABELED"})
    proxy = make_proxy(box.url, rename={"VERIFIED": "SOME_NEW_STATUS"})
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in range(20)])
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 0, res.stderr
    assert res.report()["skipped_by_reason"] == {"protected": 1}
    assert asyncio.run(_statuses(box))[3] == "VERIFIED"
    assert preflight.is_protected("SOME_NEW_STATUS")
    assert not preflight.is_protected("PRELABELED")
    assert not preflight.is_protected("UNLABELED")


def test_a_502_on_large_pages_halves_the_page_instead_of_aborting(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    labeled = dict.fromkeys(range(0, 700, 7), "REVIEWED")
    box = make_sandbox(700, labeled)
    proxy = make_proxy(box.url, fail_above=200)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i, by_name=True) for i in range(700)])
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["skipped_by_reason"] == {"protected": 100}
    assert report["counts"]["uploaded"] == 600
    assert 125 in proxy.listings
    assert max(proxy.listings) == 1000


def test_the_guard_snapshot_is_the_last_listing_of_the_preflight(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    box = make_sandbox(30, {1: "LABELED"})
    proxy = make_proxy(box.url)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i, by_name=True) for i in range(30)])
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 0, res.stderr
    plan = res.stderr
    assert plan.index("sample names: resolved") < plan.index("guard: 1 samples")
    # The last listing before the upload is the guard's, of the target label set.
    assert proxy.queries[0].get("labelset") is None
    assert proxy.queries[-1].get("labelset") == "ground-truth"


async def _statuses(box: SandboxHandle) -> dict[int, str]:
    """Sample index → ground-truth status, read through the client (no proxy)."""
    out: dict[str, str] = {}
    async with SegmentsClient(box.url, box.api_key) as client:
        async for s in client.iter_samples(DATASET, labelset="ground-truth"):
            label = s.get("label")
            if isinstance(label, dict):
                out[str(s["uuid"])] = str(label["label_status"])
    by_uuid = {sample_uuid(i): i for i in range(5000)}
    return {by_uuid[u]: st for u, st in out.items() if u in by_uuid}


def test_verify_costs_one_get_per_label_and_the_default_none(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(40, {2: "LABELED"})
    route = "/labels/{sample_uuid}/{labelset}/"
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in range(40)])
    cli = Cli(box.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)

    def label_gets() -> int:
        return sum(box.stats()["requests"].get("GET", {}).get(route, {}).values())

    plain = cli.run(preds, "--dataset", DATASET, "--json", "--labelset", "predictions")
    assert plain.code == 0, plain.stderr
    assert label_gets() == 0
    verified = cli.run(preds, "--dataset", DATASET, "--json", "--verify", "--no-resume")
    assert verified.code == 0, verified.stderr
    assert "--verify: each label's status is read" in verified.stderr
    assert verified.report()["skipped_by_reason"] == {"protected": 1}
    assert label_gets() == 39  # the protected one is skipped before its GET

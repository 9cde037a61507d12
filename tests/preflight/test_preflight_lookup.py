"""Sample names looked up one by one when the file names few of the dataset's samples.

Issue 12 part 4: resolving a handful of names paged the whole dataset. These
tests count the sample listings a run sends (through the forwarding proxy of
``preflightkit``) and check that a ``name__contains`` lookup, which also
returns near names, still matches exactly. Part 6: an unmatched name names the
sample and the ``--match`` that would find it.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from preflightkit import DATASET, CappingProxy, manifest, prediction, sample_uuid

from clikit import Cli, write_jsonl
from upload_preds import preflight
from upload_preds.sandbox import SandboxHandle, start_sandbox

MakeSandbox = Callable[..., SandboxHandle]
MakeProxy = Callable[..., CappingProxy]


def _name_listings(proxy: CappingProxy) -> list[dict[str, str]]:
    """The sample listings of name resolution (the guard's carry ``labelset``)."""
    return [q for q in proxy.queries if "labelset" not in q]


def test_few_names_are_looked_up_instead_of_paging_the_dataset(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    box = make_sandbox(2500)  # three pages of 1000
    proxy = make_proxy(box.url)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i, by_name=True) for i in (7, 2400)])
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 0, res.stderr
    assert res.report()["counts"]["uploaded"] == 2
    listings = _name_listings(proxy)
    assert sorted(q.get("name__contains", "") for q in listings) == [
        "img_00007.jpg",
        "img_02400.jpg",
    ]
    assert "looked up 2 names one by one" in res.stderr


def test_the_guard_reads_only_the_named_samples_and_still_protects(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    box = make_sandbox(2500, {7: "REVIEWED", 8: "REVIEWED"})
    proxy = make_proxy(box.url)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i, by_name=True) for i in (7, 2400)])
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 0, res.stderr
    counts = res.report()["counts"]
    assert (counts["uploaded"], counts["skipped"]) == (1, 1)  # sample 7 is protected
    assert not [q for q in proxy.queries if "labelset" in q]
    # The snapshot reads both samples; the refresh before the last batch only the one
    # still to be written (7 was skipped as protected: settled, read no more), unless
    # its PUT was already done by then.
    reads = Counter(proxy.label_reads)
    assert reads[sample_uuid(7)] == 1
    assert reads[sample_uuid(2400)] in (1, 2)
    assert set(reads) == {sample_uuid(7), sample_uuid(2400)}
    assert "guard: 1 samples in 'ground-truth'" in res.stderr


def test_a_file_covering_the_dataset_pages_it(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    box = make_sandbox(1200)
    proxy = make_proxy(box.url)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i, by_name=True) for i in range(1200)])
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 0, res.stderr
    assert res.report()["counts"]["uploaded"] == 1200
    listings = _name_listings(proxy)
    assert [q["page"] for q in listings] == ["1", "2", "3"]
    assert not any("name__contains" in q for q in listings)


def test_match_stem_pages_even_for_few_names(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    box = make_sandbox(2500)
    proxy = make_proxy(box.url)
    rows = [{**prediction(3, by_name=True), "sample_name": "img_00003.png"}]
    preds = write_jsonl(tmp_path / "p.jsonl", rows)
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--match", "stem", "--json")
    assert res.code == 0, res.stderr
    assert not any("name__contains" in q for q in _name_listings(proxy))


def test_a_contains_lookup_matches_only_the_exact_name(
    make_sandbox: MakeSandbox, make_proxy: MakeProxy, tmp_path: Path
) -> None:
    box = make_sandbox(2500)
    proxy = make_proxy(box.url)
    # '0001.jpg' is contained in 'img_00001.jpg': the filter returns it, no match.
    rows = [prediction(5, by_name=True), {**prediction(1, by_name=True), "sample_name": "0001.jpg"}]
    preds = write_jsonl(tmp_path / "p.jsonl", rows)
    cli = Cli(proxy.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET, "--json")
    assert res.code == 1, res.stderr
    counts = res.report()["counts"]
    assert counts["uploaded"] == 1
    assert "name__contains" in _name_listings(proxy)[0]
    assert "no sample named '0001.jpg'" in res.stderr
    assert "'img_00001.jpg'" in res.stderr  # the near name, as a suggestion only
    assert box.stats()["labels"][DATASET]["ground-truth"] == {"PRELABELED": 1}


@pytest.mark.parametrize(
    ("names", "samples", "concurrency", "lookup"),
    [
        (1000, 1_000_000, 16, True),
        (200_000, 200_000, 16, False),
        (10, None, 16, False),  # no samples_count: page
        (40, 2500, 16, False),  # 3 rounds vs 3 pages
        (16, 2500, 16, True),
    ],
)
def test_lookup_pays_counts_round_trips(
    names: int, samples: int | None, concurrency: int, lookup: bool
) -> None:
    assert preflight.lookup_pays(names, samples, concurrency) is lookup


@pytest.fixture
def odd_names(tmp_path: Path) -> Iterator[SandboxHandle]:
    data = manifest(3)
    samples = data["datasets"][0]["samples"]
    samples[0]["name"] = "images/bus.jpg"
    samples[1]["name"] = "car.png"
    samples[2]["name"] = "tram.jpg"
    handle = start_sandbox(
        data=data, db=tmp_path / "odd.db", api_key="sk-test-" + secrets.token_hex(12)
    )
    yield handle
    handle.stop()


def test_an_unmatched_name_names_the_match_that_finds_it(
    odd_names: SandboxHandle, tmp_path: Path
) -> None:
    rows = [
        {**prediction(0, by_name=True), "sample_name": "bus.jpg"},
        {**prediction(1, by_name=True), "sample_name": "car.jpg"},
        {**prediction(2, by_name=True), "sample_name": "tram.jpg"},
    ]
    preds = write_jsonl(tmp_path / "p.jsonl", rows)
    cli = Cli(odd_names.url, odd_names.api_key, tmp_path / "j.sqlite3", tmp_path)
    res = cli.run(preds, "--dataset", DATASET)
    assert res.code == 1, res.stderr
    assert "sample 'images/bus.jpg' matches it by --match path" in res.stderr
    assert "sample 'car.png' matches it by --match stem" in res.stderr

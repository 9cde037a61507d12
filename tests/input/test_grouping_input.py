"""Grouping CSV annotations by key and finding duplicate keys, in memory and spilled to disk."""

from __future__ import annotations

import os
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from inputkit import read_all

from upload_preds.dedupe import DuplicateIndex
from upload_preds.grouping import Grouper, key_order
from upload_preds.records import Location, Record


def reference_groups(items: list[tuple[str, Location, dict[str, Any]]]) -> list[Any]:
    """What grouping must give: a plain dict, keys in key_order, items in input order."""
    groups: dict[str, list[tuple[Location, dict[str, Any]]]] = defaultdict(list)
    for key, loc, payload in items:
        groups[key].append((loc, payload))
    return [(k, groups[k]) for k in sorted(groups, key=key_order)]


def run_grouper(items: list[tuple[str, Location, dict[str, Any]]], budget: int, tmp: Path) -> Any:
    with Grouper(budget, tmp_dir=str(tmp)) as grouper:
        for key, loc, payload in items:
            grouper.add(key, loc, payload)
        spilled = grouper.spilled
        temp_dir = grouper.temp_dir
        result = list(grouper.groups())
    if temp_dir is not None:
        assert not os.path.exists(temp_dir)
    assert os.listdir(tmp) == []
    return result, spilled


def make_items(n: int, keys: int, seed: int) -> list[tuple[str, Location, dict[str, Any]]]:
    rnd = random.Random(seed)
    return [
        (
            f"sample-{rnd.randrange(keys)}\x00predictions",
            Location(f"f{i % 2}.csv", i + 2),
            {
                "category": rnd.choice(["car", "bus", "ü"]),
                "x0": str(i),
                "n": i,
                "nested": [i, {"k": None}],
            },
        )
        for i in range(n)
    ]


# (id, budget bytes, expect a spill)
BUDGETS = [
    ("in-memory", 64 * 1024 * 1024, False),
    ("spilled", 2_000, True),
    ("spilled-split", 200, True),
]


@pytest.mark.parametrize(
    ("budget", "spills"), [b[1:] for b in BUDGETS], ids=[b[0] for b in BUDGETS]
)
def test_grouper_matches_reference(tmp_path: Path, budget: int, spills: bool) -> None:
    items = make_items(3000, 300, seed=7)
    result, spilled = run_grouper(items, budget, tmp_path)
    assert spilled is spills
    assert result == reference_groups(items)


@pytest.mark.parametrize(
    ("budget", "spills"), [b[1:] for b in BUDGETS], ids=[b[0] for b in BUDGETS]
)
def test_shuffled_csv_gives_the_same_groups(tmp_path: Path, budget: int, spills: bool) -> None:
    rows = [f"s{i % 40},car,{i},{i + 1}\n" for i in range(800)]
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    results = []
    for name, body in (("sorted.csv", sorted(rows)), ("shuffled.csv", shuffled)):
        path = tmp_path / name
        path.write_text("sample_uuid,category,x0,x1\n" + "".join(body))
        work = tmp_path / f"work-{name}"
        work.mkdir()
        items = [
            (r.data["sample_uuid"], r.loc, r.data) for r in read_all(path) if isinstance(r, Record)
        ]
        groups, spilled = run_grouper(items, budget, work)
        assert spilled is spills
        # Same groups, same order; within a group the rows keep their file order.
        results.append([(k, sorted(p["x0"] for _, p in g)) for k, g in groups])
        for _, group in groups:
            lines = [loc.line for loc, _ in group]
            assert lines == sorted(lines)
    assert results[0] == results[1]
    assert len(results[0]) == 40


def test_grouper_is_single_use_and_close_is_idempotent(tmp_path: Path) -> None:
    grouper = Grouper(100, tmp_dir=str(tmp_path))
    grouper.add("k", Location("a", 1), {"a": 1})
    grouper.add("k", Location("a", 2), {"a": 2})
    assert grouper.spilled
    assert list(grouper.groups()) == [
        ("k", [(Location("a", 1), {"a": 1}), (Location("a", 2), {"a": 2})])
    ]
    with pytest.raises(RuntimeError):
        grouper.add("k", Location("a", 3), {})
    grouper.close()
    grouper.close()
    assert os.listdir(tmp_path) == []


def test_grouper_removes_files_when_abandoned_midway(tmp_path: Path) -> None:
    with Grouper(100, tmp_dir=str(tmp_path)) as grouper:
        for i in range(50):
            grouper.add(f"k{i % 5}", Location("a", i), {"i": i})
        next(grouper.groups())
    assert os.listdir(tmp_path) == []


keys_st = st.sampled_from(["a", "b", "c", "é", "k\x00x", "", "long" * 20])
payload_st = st.dictionaries(
    st.text(max_size=5),
    st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20)),
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(
    entries=st.lists(st.tuples(keys_st, payload_st), max_size=60),
    budget=st.sampled_from([1, 300, 10**9]),
)
def test_grouping_property_matches_dict_reference(
    tmp_path_factory: pytest.TempPathFactory, entries: list[tuple[str, dict[str, Any]]], budget: int
) -> None:
    tmp = tmp_path_factory.mktemp("grp")
    items = [(key, Location("p.csv", i + 1), payload) for i, (key, payload) in enumerate(entries)]
    result, _ = run_grouper(items, budget, tmp)
    assert result == reference_groups(items)


def reference_duplicates(pairs: list[tuple[str, Location]]) -> dict[str, list[Location]]:
    seen: dict[str, list[Location]] = defaultdict(list)
    for key, loc in pairs:
        seen[key].append(loc)
    return {k: v for k, v in seen.items() if len(v) > 1}


# (id, max items in memory, expect a spill)
DEDUPE_LIMITS = [("in-memory", 1_000_000, False), ("spilled", 97, True), ("spilled-split", 5, True)]


@pytest.mark.parametrize(
    ("limit", "spills"), [d[1:] for d in DEDUPE_LIMITS], ids=[d[0] for d in DEDUPE_LIMITS]
)
def test_duplicate_index_paths_agree(tmp_path: Path, limit: int, spills: bool) -> None:
    rnd = random.Random(11)
    pairs = [
        (f"s{rnd.randrange(1500)}\x00gt", Location(f"f{i % 3}.jsonl", i + 1)) for i in range(2000)
    ]
    with DuplicateIndex(limit, tmp_dir=str(tmp_path)) as index:
        for key, loc in pairs:
            index.add(key, loc)
        assert index.spilled is spills
        found = index.duplicates()
    expected = reference_duplicates(pairs)
    assert found == expected
    assert list(found) == sorted(expected, key=key_order)
    assert os.listdir(tmp_path) == []


def test_duplicate_index_same_file_twice_streams_every_key(tmp_path: Path) -> None:
    with DuplicateIndex(50, tmp_dir=str(tmp_path)) as index:
        for name in ("a.jsonl", "a.jsonl"):
            for line in range(1, 301):
                index.add(f"s{line}", Location(name, line))
        dups = list(index.iter_duplicates())
    assert len(dups) == 300
    assert all(locs == [Location("a.jsonl", locs[0].line)] * 2 for _, locs in dups)


def test_duplicate_index_without_duplicates(tmp_path: Path) -> None:
    with DuplicateIndex(3, tmp_dir=str(tmp_path)) as index:
        for i in range(10):
            index.add(f"k{i}", Location("a", i))
        assert index.duplicates() == {}
        with pytest.raises(RuntimeError):
            index.add("k1", Location("a", 99))

"""The grouping's spill as run files: one file a flush, merged into partition files after
many runs, a partition too big split on reading; the groups are those of a plain dict."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from upload_preds.dedupe import DuplicateIndex
from upload_preds.grouping import Grouper, key_order
from upload_preds.records import Location


def _items(n: int, keys: int, seed: int) -> list[tuple[str, Location, dict[str, Any]]]:
    rng = random.Random(seed)
    names = [f"sample-{k:05d}-{'x' * (k % 7)}" for k in range(keys)]
    return [
        (rng.choice(names), Location(f"f{i % 3}.csv", i + 1), {"c": [i, "y" * rng.randrange(30)]})
        for i in range(n)
    ]


def _reference(items: list[tuple[str, Location, dict[str, Any]]]) -> list[Any]:
    groups: dict[str, list[Any]] = {}
    for key, loc, payload in items:
        groups.setdefault(key, []).append((loc, payload))
    return [(k, groups[k]) for k in sorted(groups, key=key_order)]


def test_a_flush_writes_one_file_whatever_partitions_it_touches(tmp_path: Path) -> None:
    items = _items(3000, 2000, 1)  # keys in (nearly) every one of the 256 partitions
    with Grouper(20_000, tmp_dir=str(tmp_path)) as grouper:
        flushes = 0
        seen: set[str] = set()
        for key, loc, payload in items:
            grouper.add(key, loc, payload)
            if grouper.temp_dir is not None:
                names = set(os.listdir(grouper.temp_dir))
                flushes += names != seen
                seen = names
        assert grouper.spilled
        assert 3 <= len(seen) == flushes < 64  # one new file a flush, no file a partition
        assert list(grouper.groups()) == _reference(items)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("budget", "n"), [(2_000, 6000), (60_000, 20_000)])
def test_many_runs_are_merged_and_big_partitions_split_with_the_same_groups(
    tmp_path: Path, budget: int, n: int
) -> None:
    # 2,000 bytes: hundreds of flushes (merged every 64 runs, several times over); few
    # keys and a budget of 60,000 bytes: partitions past the split size.
    items = _items(n, 40 if budget > 2000 else 500, budget)
    with Grouper(budget, tmp_dir=str(tmp_path)) as grouper:
        for key, loc, payload in items:
            grouper.add(key, loc, payload)
        assert grouper.spilled
        assert len(os.listdir(grouper.temp_dir or "")) < 64 + 1024
        assert list(grouper.groups()) == _reference(items)
    assert os.listdir(tmp_path) == []


def test_the_duplicate_index_over_many_runs(tmp_path: Path) -> None:
    index = DuplicateIndex(50, tmp_dir=str(tmp_path))
    keys = [f"k{i % 700}" for i in range(9000)]
    for i, key in enumerate(keys):
        index.add(key, Location("a.jsonl", i + 1))
    got = dict(index.iter_duplicates())
    assert sorted(got) == sorted({f"k{i}" for i in range(700)})
    assert [loc.line for loc in got["k3"]] == [i + 1 for i in range(9000) if i % 700 == 3]
    index.close()
    assert os.listdir(tmp_path) == []

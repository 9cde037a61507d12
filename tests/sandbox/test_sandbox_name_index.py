"""``name__contains`` through the trigram index: the scan's answers, at the matches' cost.

Answers are compared with Python's own substring test (what the scan did)
over names chosen to trip an index up: case, ``%``, ``_``, ``*``, quotes,
spaces, unicode, queries of one and two characters; read with the official
SDK. The cost is counted in SQLite virtual-machine steps (deterministic, no
clock): a lookup in 20,000 samples must cost about what it costs in 2,000.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from segments import SegmentsClient as SdkClient

from upload_preds.sandbox import start_sandbox
from upload_preds.sandbox.manifest import parse_manifest
from upload_preds.sandbox.store import Store

KEY = "sk-test-name-index-0123456789"
NS = uuid.UUID("1f6a7f5e-2b1c-4c8e-9a57-0e4d7c3b9a10")
IMAGE = '{"image": {"url": "https://example.invalid/x.jpg"}}'

TRICKY = [
    "img_01.jpg",
    "Img_01.JPG",
    "IMG_01.jpg",
    "100%_done.png",
    "100x_done.png",
    "a_b.png",
    "axb.png",
    "ab.png",
    "star*.jpg",
    "stars.jpg",
    'quo"te.jpg',
    "sp ace.jpg",
    "café.jpg",
    "CAFÉ.jpg",
    "cafe\u0301.jpg",  # é as e + combining accent: another string
    "日本語のファイル.png",
    "ß-straße.png",
    "ﬁle.png",  # the fi ligature is not "fi"
    "file.png",
    "[x].png",
]
QUERIES = [
    "img",
    "IMG",
    "Img_01",
    "_01.",
    "%",
    "0%_",
    "%_d",
    "_",
    "a_b",
    "*",
    "r*.",
    '"',
    'o"t',
    "p a",
    " ",
    "é",
    "fé.",
    "FÉ.",
    "e\u0301.",
    "本語の",
    "日本",
    "ß",
    "ße.",
    "fi",
    "ﬁle",
    "[x]",
    ".png",
    "nothing-like-it",
    "file.png",
]


def _manifest(name: str, names: list[str]) -> dict[str, Any]:
    return {
        "datasets": [
            {
                "owner": "idx",
                "name": name,
                "task_type": "vector",
                "task_attributes": {
                    "format_version": "0.1",
                    "categories": [{"id": 1, "name": "a"}],
                },
                "labelsets": [{"name": "ground-truth", "description": ""}],
                "samples": [
                    {
                        "uuid": str(uuid.uuid5(NS, f"{name}/{n}")),
                        "name": n,
                        "attributes": {"image": {"url": f"https://example.invalid/{i}.jpg"}},
                        "metadata": {},
                    }
                    for i, n in enumerate(names)
                ],
            }
        ]
    }


def _both() -> dict[str, Any]:
    data = _manifest("tricky", TRICKY)
    # Another dataset holding the same names: its samples must never show.
    data["datasets"] += _manifest("other", TRICKY[::2])["datasets"]
    return data


def test_the_index_answers_as_the_scan_did_on_tricky_names(tmp_path: Path) -> None:
    with start_sandbox(data=_both(), db=tmp_path / "idx.db", api_key=KEY) as box:
        sdk = SdkClient(KEY, api_url=box.url)
        for query in QUERIES:
            got = [s.name for s in sdk.get_samples("idx/tricky", name=query)]
            want = sorted(n for n in TRICKY if query in n)
            assert got == want, query


def test_samples_written_into_the_file_directly_are_indexed_on_open(tmp_path: Path) -> None:
    db = tmp_path / "idx.db"
    start_sandbox(data=_manifest("tricky", TRICKY[:3]), db=db, api_key=KEY).stop()
    conn = sqlite3.connect(db)  # as bench/bench_preflight.py seeds a million samples
    did, created = conn.execute("SELECT dataset_id, created_at FROM samples").fetchone()
    with conn:
        conn.executemany(
            "INSERT INTO samples (uuid, dataset_id, name, attributes, metadata, priority, "
            "readme, created_at, created_by) VALUES (?, ?, ?, ?, '{}', 0, '', ?, 'x')",
            [(str(uuid.uuid5(NS, n)), did, n, IMAGE, created) for n in TRICKY[3:]],
        )
    conn.close()
    with start_sandbox(db=db, api_key=KEY) as box:
        sdk = SdkClient(KEY, api_url=box.url)
        for query in ("%_d", "本語の", "img", "ﬁle"):
            got = [s.name for s in sdk.get_samples("idx/tricky", name=query)]
            assert got == sorted(n for n in TRICKY if query in n), query


def _steps(store: Store, query: str) -> tuple[int, list[str]]:
    """SQLite VM steps (in thousands) of one name__contains listing, and its names."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    ds = store.datasets()[0]
    store.connection.set_progress_handler(tick, 1000)
    try:
        rows = store.list_samples(
            ds,
            labelset="ground-truth",
            name_contains=query,
            statuses=None,
            sort="name",
            descending=False,
            limit=100,
            offset=0,
        )
    finally:
        store.connection.set_progress_handler(None, 0)
    return count[0], [r[1] for r in rows]


@pytest.mark.parametrize("query", ["frame_0001234.jpg", "0001234"])
def test_a_lookup_costs_about_its_matches_not_the_dataset(query: str) -> None:
    costs = []
    for n in (2_000, 20_000):
        store = Store(":memory:")
        names = [f"frame_{i:07d}.jpg" for i in range(n)]
        store.seed(parse_manifest(_manifest("frames", names)))
        steps, found = _steps(store, query)
        assert found == [n for n in names if query in n]
        costs.append(steps)
        store.close()
    # A scan grows with the dataset (10x here); the index with the posting lists
    # of the query's trigrams, a small part of it.
    assert costs[1] <= 3 * max(1, costs[0]), costs

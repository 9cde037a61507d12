"""Search evaluation in the store equals a brute-force count over generated labels.

Hypothesis generates samples, labels in two label sets (some samples without
a label, some labels without annotations), later replacements and deletions,
and queries; the store's answer (SQL over the per-label counts kept on every
write) must equal counting the annotations in Python. Also checks that a
database from before the counts column is filled in when opened.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from upload_preds.sandbox.manifest import parse_manifest
from upload_preds.sandbox.review import search
from upload_preds.sandbox.search import OPS, Query, Term, compare
from upload_preds.sandbox.store import Store

CATS = {"car": 1, "truck": 2, "pedestrian": 3}
LABELSETS = ("ground-truth", "model.v3")
N_SAMPLES = 8


def manifest() -> Any:
    return parse_manifest(
        {
            "datasets": [
                {
                    "owner": "o",
                    "name": "d",
                    "task_type": "vector",
                    "task_attributes": {
                        "format_version": "0.1",
                        "categories": [{"id": i, "name": n} for n, i in CATS.items()],
                    },
                    "labelsets": [{"name": ls} for ls in LABELSETS],
                    "samples": [
                        {"name": f"s{i}", "attributes": {"image": {"url": "x.png"}}}
                        for i in range(N_SAMPLES)
                    ],
                }
            ]
        }
    )


def label(category_ids: list[int]) -> str:
    anns = [
        {"id": k + 1, "category_id": c, "type": "bbox", "points": [[0, 0], [1, 1]]}
        for k, c in enumerate(category_ids)
    ]
    return orjson.dumps({"format_version": "0.1", "annotations": anns}).decode()


# One write: (sample index, label set, category ids) or a delete (ids None).
writes = st.lists(
    st.tuples(
        st.integers(0, N_SAMPLES - 1),
        st.sampled_from(LABELSETS),
        st.one_of(st.none(), st.lists(st.sampled_from(list(CATS.values())), max_size=6)),
    ),
    max_size=30,
)
terms = st.builds(
    Term,
    labelset=st.sampled_from(LABELSETS),
    category=st.sampled_from(list(CATS)),
    op=st.sampled_from(OPS),
    value=st.integers(0, 4),
)
queries = st.lists(terms, max_size=4).map(lambda ts: Query(tuple(ts)))


@given(writes, queries)
@settings(max_examples=150, deadline=None)
def test_search_equals_brute_force(ws: list[tuple[int, str, list[int] | None]], q: Query) -> None:
    store = Store(":memory:")
    try:
        store.seed(manifest())
        ds = store.dataset("o", "d")
        assert ds is not None
        names = {store.sample_by_name(ds, f"s{i}")[0]: f"s{i}" for i in range(N_SAMPLES)}  # type: ignore[index]
        uuids = list(names)
        truth: dict[tuple[str, str], list[int]] = {}
        for i, ls, cats in ws:
            if cats is None:
                store.delete_label(uuids[i], ls)
                truth.pop((uuids[i], ls), None)
            else:
                store.put_label(uuids[i], ls, "PRELABELED", label(cats), None)
                truth[(uuids[i], ls)] = cats
        store.commit()

        def brute(uuid: str) -> bool:
            return all(
                compare(truth.get((uuid, t.labelset), []).count(CATS[t.category]), t.op, t.value)
                for t in q.terms
            )

        expected = sorted(names[u] for u in uuids if brute(u))
        result = search(store, ds, q.render())
        assert [n for n, _, _ in result.samples] == expected
        assert result.total == len(expected)
        for _, uuid, counts in result.samples:
            for t in q.terms:
                assert counts[t.key] == truth.get((uuid, t.labelset), []).count(CATS[t.category])
    finally:
        store.close()


def test_old_database_gets_counts_when_opened(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    store = Store(str(db))
    store.seed(manifest())
    ds = store.dataset("o", "d")
    assert ds is not None
    uuid = store.sample_by_name(ds, "s1")[0]  # type: ignore[index]
    store.put_label(uuid, "ground-truth", "LABELED", label([1, 1, 3]), None)
    store.close()
    # Make it look like a database written before the counts column existed.
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE labels DROP COLUMN counts")
    conn.commit()
    conn.close()
    store = Store(str(db))
    try:
        ds = store.dataset("o", "d")
        assert ds is not None
        result = search(store, ds, "ground-truth.car:=2 ground-truth.pedestrian:=1")
        assert [n for n, _, _ in result.samples] == ["s1"]
    finally:
        store.close()

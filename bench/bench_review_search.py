"""Search and paging of the sandbox's review page on 50,000 samples.

Builds a sandbox database (a temporary SQLite file, WAL) with N samples and a
label in two label sets for each (0-6 objects of 4 categories), written
through ``Store.put_label`` as the API writes them, then times, in one run:

* the issue's search, ``ground-truth.car:>0 predictions.car:=0``, listing
  every match (what ``upload-preds-sandbox search`` does): cold (a freshly
  opened store builds its review index) and warm; and a four-term search;
* one page of the review page (24 samples, that search, sorted by the
  predictions' score), the first page and the last, with no search, and
  turning pages of an unchanged search;
* the same search as SQL joining every sample to its two labels, counting
  with the stored counts or with ``json_each`` over the annotations, for the
  ratios (the designs the review index replaced);
* the platform's other term kinds together (``total_count``, metadata
  numbers and lists, a name word): the first such search (which reads every
  sample's metadata into the index) and warm;
* what keeping the counts costs a label write.

Each timing is the median of 5 runs. Usage:
``.venv/bin/python bench/bench_review_search.py [--quick] [N]`` (default 50000; --quick 5000).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from benchkit import arguments, median_of
from upload_preds.sandbox.manifest import parse_manifest
from upload_preds.sandbox.review import search
from upload_preds.sandbox.review_index import CountTerm
from upload_preds.sandbox.schema import counts_json
from upload_preds.sandbox.store import Store

_T = TypeVar("_T")
CATS = {"car": 1, "truck": 2, "pedestrian": 3, "cyclist": 4}


def label(rng: random.Random) -> str:
    anns = [
        {
            "id": k + 1,
            "category_id": rng.choice([1, 1, 2, 3, 4]),
            "type": "bbox",
            "points": [[10, 10], [50, 40]],
            "attributes": {},
        }
        for k in range(rng.randint(0, 6))
    ]
    return orjson.dumps({"format_version": "0.1", "annotations": anns}).decode()


def median_ms(fn: Callable[[], _T], runs: int = 5) -> tuple[float, _T]:
    seconds, out = median_of(fn, runs)
    return seconds * 1000, out


def main() -> None:
    parser = arguments(__doc__, "5,000 samples")
    parser.add_argument("n", nargs="?", type=int, default=50_000, help="samples")
    ns = parser.parse_args()
    n = 5_000 if ns.quick else ns.n
    rng = random.Random(5)
    tmp = tempfile.mkdtemp(prefix="bench-review-")
    db = os.path.join(tmp, "s.sqlite3")
    manifest = parse_manifest(
        {
            "datasets": [
                {
                    "owner": "b",
                    "name": "big",
                    "task_type": "vector",
                    "task_attributes": {
                        "format_version": "0.1",
                        "categories": [{"id": i, "name": c} for c, i in CATS.items()],
                    },
                    "labelsets": [{"name": "ground-truth"}, {"name": "predictions"}],
                    "samples": [
                        {
                            "name": f"img_{i:06d}.jpg",
                            "attributes": {"image": {"url": "x.png"}},
                            "metadata": {
                                "camera": ("front", "rear", "left")[i % 3],
                                "seq": i % 100,
                            },
                        }
                        for i in range(n)
                    ],
                }
            ]
        }
    )
    store = Store(db)
    store.seed(manifest)
    ds = store.dataset("b", "big")
    assert ds is not None
    uuids = [r[0] for r in store._conn.execute("SELECT uuid FROM samples")]
    t = time.perf_counter()
    for u in uuids:
        store.put_label(u, "ground-truth", "LABELED", label(rng), None)
        store.put_label(u, "predictions", "PRELABELED", label(rng), rng.random())
    store.commit()
    fill_s = time.perf_counter() - t
    print(f"{n} samples, {2 * n} labels written in {fill_s:.1f} s")

    q2 = "ground-truth.car:>0 predictions.car:=0"
    q4 = "ground-truth.car:>=2 predictions.car:<2 ground-truth.pedestrian:>0 predictions.truck:=0"
    store.close()

    # Cold: a freshly opened store builds its index on the first search (what
    # every `upload-preds-sandbox search` run pays).
    def cold() -> Any:
        s = Store(db)
        try:
            d = s.dataset("b", "big")
            assert d is not None
            return search(s, d, q2)
        finally:
            s.close()

    ms_cold, _ = median_ms(cold, runs=3)
    store = Store(db)
    ds = store.dataset("b", "big")
    assert ds is not None
    search(store, ds, q2)
    ms2, res2 = median_ms(lambda: search(store, ds, q2))
    ms4, res4 = median_ms(lambda: search(store, ds, q4))
    qp = "predictions.total_count:>3 seq:>=50 camera:[front,rear] img_0"
    ms_plat_first, _ = median_ms(lambda: search(store, ds, qp), runs=1)
    ms_plat, res_plat = median_ms(lambda: search(store, ds, qp))
    terms = [CountTerm("ground-truth", 1, ">", 0), CountTerm("predictions", 1, "=", 0)]
    both = ["ground-truth", "predictions"]

    def page(offset: int, ts: list[CountTerm]) -> Any:
        # A new query each time: filter and sort run (no cached order).
        store.review.forget_order()
        _, uuids = store.review.find_samples(
            ds, labelsets=both, terms=ts, sort="score", sort_labelset="predictions",
            descending=True, limit=24, offset=offset,
        )  # fmt: skip
        return store.review.rows(uuids, both)

    ms_first, _ = median_ms(lambda: page(0, terms))
    ms_last, _ = median_ms(lambda: page(max(0, res2.total - 24), terms))
    ms_all, _ = median_ms(lambda: page(0, []))
    store.review.find_samples(
        ds, labelsets=both, terms=terms, sort="score", sort_labelset="predictions",
        descending=True, limit=24, offset=0,
    )  # fmt: skip
    ms_flip, _ = median_ms(
        lambda: store.review.rows(
            store.review.find_samples(
                ds, labelsets=both, terms=terms, sort="score", sort_labelset="predictions",
                descending=True, limit=24, offset=2400,
            )[1],
            both,
        )
    )  # fmt: skip
    # The alternatives in SQL: join every sample to both labels, count with the
    # counts column, or with json_each over the annotations.
    join = """
        SELECT s.name FROM samples s
        LEFT JOIN labels a ON a.sample_uuid = s.uuid AND a.labelset = 'ground-truth'
        LEFT JOIN labels b ON b.sample_uuid = s.uuid AND b.labelset = 'predictions'
        WHERE s.dataset_id = ? AND {} ORDER BY s.name"""
    counts_sql = join.format(
        "coalesce(json_extract(a.counts, '$.\"1\"'), 0) > 0 "
        "AND coalesce(json_extract(b.counts, '$.\"1\"'), 0) = 0"
    )
    each_sql = join.format(
        "(SELECT count(*) FROM json_each(a.attributes, '$.annotations') j "
        " WHERE json_extract(j.value, '$.category_id') = 1) > 0 "
        "AND (SELECT count(*) FROM json_each(b.attributes, '$.annotations') j "
        " WHERE json_extract(j.value, '$.category_id') = 1) = 0"
    )
    expected = [name for name, _, _ in res2.samples]
    ms_sql, rows_sql = median_ms(lambda: store._conn.execute(counts_sql, (ds.id,)).fetchall())
    ms_each, rows_each = median_ms(lambda: store._conn.execute(each_sql, (ds.id,)).fetchall())
    assert [r[0] for r in rows_sql] == expected == [r[0] for r in rows_each]

    # Write cost of the counts: counts_json alone against a whole put_label.
    bodies = [label(rng) for _ in range(5000)]
    t = time.perf_counter()
    for body in bodies:
        counts_json(body)
    counts_s = time.perf_counter() - t
    t = time.perf_counter()
    for u, body in zip(uuids, bodies, strict=False):
        store.put_label(u, "predictions", "PRELABELED", body, 0.5)
    store.commit()
    put_s = time.perf_counter() - t
    store.close()

    print(f"search {q2!r}: {res2.total} matches, all listed")
    print(f"  cold (open the db, build the index, search): {ms_cold:.0f} ms")
    print(f"  warm: {ms2:.1f} ms; 4 terms ({res4.total} matches): {ms4:.1f} ms")
    print(
        f"  the same in SQL, joining every sample to its labels: {ms_sql:.0f} ms "
        f"({ms_sql / ms2:.0f}x); counting with json_each: {ms_each:.0f} ms ({ms_each / ms2:.0f}x)"
    )
    print(
        f"search {qp!r}: {res_plat.total} matches; first {ms_plat_first:.1f} ms "
        f"(reads the metadata), warm {ms_plat:.1f} ms"
    )
    print("review page (24 samples + their labels), sorted by predictions' score:")
    print(f"  that search, first page {ms_first:.1f} ms, last page {ms_last:.1f} ms")
    print(
        f"  no search (all {n}): {ms_all:.1f} ms; turning to page 101 of a search: {ms_flip:.1f} ms"
    )
    print(
        f"label write: counts_json is {100 * counts_s / put_s:.0f}% of a put_label "
        f"(with the review index loaded)"
    )


if __name__ == "__main__":
    main()

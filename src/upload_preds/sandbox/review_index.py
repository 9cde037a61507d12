"""The review page's search and sorting, over an in-memory index kept in step with the store.

:class:`ReviewQueries` belongs to one :class:`~.store.Store` and shares its
SQLite connection. Joining every sample to its labels in SQL took 0.3-1 s on
50,000 samples (uuid-keyed lookups); instead, per dataset, a
:class:`ReviewIndex` holds sample names and, per label set, each label's
status, score and object counts per category, loaded with one scan the first
time a label set is searched, and every sample's metadata, loaded the first
time a query names a metadata key (a new sample drops it, to be read again).
The store's own label and sample writes update it
(:meth:`ReviewQueries.label_changed`, :meth:`ReviewQueries.sample_added`);
commits by another connection (``upload-preds-sandbox copy`` beside a running
server) change SQLite's ``PRAGMA data_version``, which every search checks: the
indexes are then rebuilt. :meth:`ReviewQueries.find_samples` filters and sorts
from the index in tens of ms (bench/bench_review_search.py) and keeps the last
sorted result until the next write, so turning pages does not sort again;
:meth:`ReviewQueries.rows` reads one page's rows from SQLite.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from upload_preds.sandbox.search import MetaTerm, NameTerm
from upload_preds.sandbox.validate import PSEUDO_STATUS_UNLABELED

if TYPE_CHECKING:
    from upload_preds.sandbox.schema import DatasetInfo

# The order "sort by label status" uses: no label first, then as work progresses.
STATUS_ORDER: tuple[str, ...] = (
    PSEUDO_STATUS_UNLABELED,
    "PRELABELED",
    "LABELING_IN_PROGRESS",
    "LABELED",
    "REVIEWING_IN_PROGRESS",
    "REVIEWED",
    "VERIFIED",
    "REJECTED",
    "SKIPPED",
)


@dataclass(frozen=True, slots=True)
class CountTerm:
    """One search condition as the store runs it: count of ``category_id`` in ``labelset``
    (``None``: of every category); ``values`` non-empty: the count must be one of them."""

    labelset: str
    category_id: int | None
    op: str
    value: int
    values: tuple[int, ...] = ()


_PY_OPS: dict[str, Callable[[int, int], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
}
_STATUS_RANK = {status: i for i, status in enumerate(STATUS_ORDER)}


@dataclass(slots=True)
class ReviewIndex:
    """What search and sorting read, per dataset: sample names, and per label set each
    sample's ``(label_status, score, {category id: count})``. The ids stay the
    strings of the stored JSON (converting 50,000 of them costs 0.1 s)."""

    names: dict[str, str]
    labels: dict[str, dict[str, tuple[str, float | None, dict[str, int]]]]
    # Sample metadata, parsed, loaded the first time a search names a key.
    metadata: dict[str, Any] | None = None


def _counter(
    per_ls: dict[str, tuple[str, float | None, dict[str, int]]], category_id: int | None
) -> Callable[[str], int]:
    """Objects of ``category_id`` (None: of every category) in a sample's label; 0 without one."""
    if category_id is None:
        return lambda u: sum(e[2].values()) if (e := per_ls.get(u)) else 0
    cid = str(category_id)
    return lambda u: e[2].get(cid, 0) if (e := per_ls.get(u)) else 0


class ReviewQueries:
    """Search, sorting and page rows for the review page and ``upload-preds-sandbox search``."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        dataset_of_sample: Callable[[str], DatasetInfo | None],
    ) -> None:
        self._conn = conn
        self._dataset_of_sample = dataset_of_sample
        self._indexes: dict[int, ReviewIndex] = {}
        self._cache: tuple[tuple[Any, ...], list[str]] | None = None
        self._data_version: int = conn.execute("PRAGMA data_version").fetchone()[0]

    @property
    def active(self) -> bool:
        """Whether any index is loaded (writes only need to update it then)."""
        return bool(self._indexes)

    def clear(self) -> None:
        """Forget every index and the last result (after a rollback or a reseed)."""
        self._indexes.clear()
        self._cache = None

    def forget_order(self) -> None:
        """Forget the last sorted result only (the next search sorts again)."""
        self._cache = None

    def sample_added(self, ds: DatasetInfo, sample_uuid: str, name: str) -> None:
        self._cache = None
        if ds.id in self._indexes:
            idx = self._indexes[ds.id]
            idx.names[sample_uuid] = name
            idx.metadata = None  # read again, with the new sample's, when next needed

    def fresh(self) -> None:
        """Drop the review indexes when another connection committed (CLI copy, a second server)."""
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            self._indexes.clear()
            self._cache = None

    def index(self, ds: DatasetInfo, labelsets: Iterable[str]) -> ReviewIndex:
        """The in-memory index of ``ds`` with (at least) ``labelsets`` loaded."""
        self.fresh()
        idx = self._indexes.get(ds.id)
        if idx is None:
            idx = self._indexes[ds.id] = ReviewIndex(
                dict(
                    self._conn.execute(
                        "SELECT uuid, name FROM samples WHERE dataset_id = ?", (ds.id,)
                    )
                ),
                {},
            )
        names = idx.names
        for ls in labelsets:
            if ls not in idx.labels:
                # One scan of the labels (their key starts with the sample, so
                # there is no index on the label set to use); the samples of
                # other datasets are dropped here, not with a join, which
                # would cost a uuid lookup per label.
                idx.labels[ls] = {
                    u: (status, score, orjson.loads(counts))
                    for u, status, score, counts in self._conn.execute(
                        "SELECT sample_uuid, label_status, score, counts FROM labels "
                        "WHERE labelset = ?",
                        (ls,),
                    )
                    if u in names
                }
        return idx

    def metadata(self, ds: DatasetInfo) -> dict[str, Any]:
        """Every sample's metadata of ``ds`` (uuid → parsed JSON), loaded once per index."""
        idx = self.index(ds, ())
        if idx.metadata is None:
            idx.metadata = {
                u: orjson.loads(m)
                for u, m in self._conn.execute(
                    "SELECT uuid, metadata FROM samples WHERE dataset_id = ?", (ds.id,)
                )
            }
        return idx.metadata

    def metadata_keys(self, ds: DatasetInfo) -> set[str]:
        """The metadata keys any sample of ``ds`` has."""
        keys: set[str] = set()
        for m in self.metadata(ds).values():
            if isinstance(m, dict):
                keys.update(m)
        return keys

    def label_changed(
        self,
        sample_uuid: str,
        labelset: str,
        entry: tuple[str, float | None, dict[str, int]] | None,
    ) -> None:
        self._cache = None
        ds = self._dataset_of_sample(sample_uuid)
        idx = self._indexes.get(ds.id) if ds is not None else None
        per_ls = idx.labels.get(labelset) if idx is not None else None
        if per_ls is None:
            return
        if entry is None:
            per_ls.pop(sample_uuid, None)
        else:
            per_ls[sample_uuid] = entry

    def find_samples(
        self,
        ds: DatasetInfo,
        *,
        labelsets: list[str],
        terms: list[CountTerm],
        metadata: tuple[MetaTerm, ...] = (),
        names: tuple[NameTerm, ...] = (),
        sort: str = "name",
        sort_labelset: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[int, list[str]]:
        """How many samples of ``ds`` match every term, and one page of their uuids, sorted.

        ``labelsets`` must include those the terms and the sort name; the
        sample must also satisfy every ``metadata`` term and contain every
        ``names`` text in its name. ``sort``:
        ``name``, ``score`` or ``status`` (the last two of ``sort_labelset``);
        a missing score or label sorts last in both directions; ties go by
        name, then uuid. The sorted matches of the last call are kept until
        the next write, so turning pages does not filter and sort again.
        """
        key = (
            ds.id,
            tuple(labelsets),
            tuple(terms),
            metadata,
            names,
            sort,
            sort_labelset,
            descending,
        )
        self.fresh()
        cached = self._cache
        if cached is not None and cached[0] == key:
            ordered = cached[1]
        else:
            ordered = self._filter_and_sort(
                ds, labelsets, terms, metadata, names, sort, sort_labelset, descending
            )
            self._cache = (key, ordered)
        end = len(ordered) if limit is None else offset + limit
        return len(ordered), ordered[offset:end]

    def _filter_and_sort(
        self,
        ds: DatasetInfo,
        labelsets: list[str],
        terms: list[CountTerm],
        metadata: tuple[MetaTerm, ...],
        name_terms: tuple[NameTerm, ...],
        sort: str,
        sort_labelset: str | None,
        descending: bool,
    ) -> list[str]:
        idx = self.index(ds, labelsets)
        names = idx.names
        uuids: Iterable[str] = names
        for nt in name_terms:
            uuids = [u for u in uuids if nt.holds(names[u])]
        if metadata:
            meta = self.metadata(ds)
            for mt in metadata:
                uuids = [u for u in uuids if mt.holds(meta.get(u))]
        for t in terms:
            per_ls = idx.labels[t.labelset]
            count = _counter(per_ls, t.category_id)
            if t.values:
                wanted = frozenset(t.values)
                uuids = [u for u in uuids if count(u) in wanted]
            elif t.category_id is not None:
                # The common case inline (no call per sample): a sample without
                # a label, or a label without the category, counts 0.
                op, cid, value = _PY_OPS[t.op], str(t.category_id), t.value
                uuids = [
                    u for u in uuids if op((e[2].get(cid, 0) if (e := per_ls.get(u)) else 0), value)
                ]
            else:
                op, value = _PY_OPS[t.op], t.value
                uuids = [u for u in uuids if op(count(u), value)]
        if sort == "name":
            return sorted(uuids, key=lambda u: (names[u], u), reverse=descending)
        per_ls = idx.labels[sort_labelset or ""]
        if sort == "score":
            scored, missing = [], []
            for u in uuids:
                e = per_ls.get(u)
                if e is None or e[1] is None:
                    missing.append(u)
                else:
                    scored.append((-e[1] if descending else e[1], names[u], u))
            scored.sort()
            missing.sort(key=lambda u: (names[u], u))
            return [u for _, _, u in scored] + missing
        if sort == "status":
            sign = -1 if descending else 1
            return sorted(
                uuids,
                key=lambda u: (
                    sign * _STATUS_RANK.get(e[0] if (e := per_ls.get(u)) else "UNLABELED", 99),
                    names[u],
                    u,
                ),
            )
        raise ValueError(f"unknown sort {sort!r}")

    def rows(self, uuids: list[str], labelsets: list[str]) -> list[tuple[Any, ...]]:
        """Rows for a page of samples, in the order of ``uuids``.

        ``uuid, name, attributes``, then for each label set ``label_status,
        score, attributes, counts, updated_at`` (NULLs without a label).
        """
        if not uuids:
            return []
        marks = ", ".join("?" * len(uuids))
        samples = {
            r[0]: r
            for r in self._conn.execute(
                f"SELECT uuid, name, attributes FROM samples WHERE uuid IN ({marks})", uuids
            )
        }
        labels: dict[tuple[str, str], tuple[Any, ...]] = {}
        ls_marks = ", ".join("?" * len(labelsets))
        for r in self._conn.execute(
            "SELECT sample_uuid, labelset, label_status, score, attributes, counts, updated_at "
            f"FROM labels WHERE sample_uuid IN ({marks}) AND labelset IN ({ls_marks})",
            [*uuids, *labelsets],
        ):
            labels[(r[0], r[1])] = r[2:]
        empty = (None, None, None, None, None)
        return [
            (*samples[u], *(x for ls in labelsets for x in labels.get((u, ls), empty)))
            for u in uuids
            if u in samples
        ]

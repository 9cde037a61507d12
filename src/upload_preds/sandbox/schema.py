"""The sandbox database's tables, and the shapes its rows take in the routes.

:data:`SCHEMA` creates the tables (``meta``, ``datasets``, ``labelsets``,
``samples``, ``labels``, ``assets``); :data:`SAMPLE_COLS` and :data:`LABEL_COLS`
are the column lists the queries and the row → JSON helpers share, a label row
is a :data:`LabelRow`, and :data:`SORTS` maps the sample list's ``sort`` to a
column. :func:`counts_json` is a label's ``counts`` column (its objects per
category id, for the review page's search). :class:`DatasetInfo` is a dataset
as :class:`~upload_preds.sandbox.store.Store` caches it for the routes. The
store itself (connection, transactions, reads and writes) is in
:mod:`upload_preds.sandbox.store`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from upload_preds.sandbox.search import category_counts
from upload_preds.sandbox.validate import TaskSpec

__all__ = [
    "LABEL_COLS",
    "SAMPLE_COLS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SORTS",
    "USERNAME",
    "AlreadyExists",
    "DatasetInfo",
    "LabelRow",
    "SeedResult",
    "counts_json",
]

SCHEMA_VERSION = "1"
USERNAME = "sandbox"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    task_type TEXT NOT NULL,
    task_attributes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (owner, name)
);
CREATE TABLE IF NOT EXISTS labelsets (
    dataset_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (dataset_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS samples (
    uuid TEXT PRIMARY KEY,
    dataset_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    attributes TEXT NOT NULL,
    metadata TEXT NOT NULL,
    priority REAL NOT NULL,
    readme TEXT NOT NULL,
    assigned_labeler TEXT,
    assigned_reviewer TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (dataset_id, name)
);
CREATE TABLE IF NOT EXISTS labels (
    sample_uuid TEXT NOT NULL,
    labelset TEXT NOT NULL,
    label_status TEXT NOT NULL,
    attributes TEXT NOT NULL,
    score REAL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT,
    counts TEXT,
    PRIMARY KEY (sample_uuid, labelset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS assets (
    uuid TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    content_type TEXT,
    data BLOB,
    created_at TEXT NOT NULL
);
"""

# Column lists shared by the queries and the row → JSON helpers below.
SAMPLE_COLS = (
    "s.uuid, s.name, s.attributes, s.metadata, s.priority, s.readme, "
    "s.assigned_labeler, s.assigned_reviewer, s.created_at, s.created_by"
)
LABEL_COLS = (
    "l.sample_uuid, l.labelset, l.label_status, l.attributes, l.score, "
    "l.created_at, l.created_by, l.updated_at, l.updated_by"
)
SORTS = {
    "name": "s.name",
    "created_at": "s.created_at",
    "priority": "s.priority",
    "gt_label__updated_at": "g.updated_at",
}

LabelRow = tuple[str, str, str, str, float | None, str, str, str, str | None]


def counts_json(attributes_json: str) -> str:
    """The ``counts`` column for a label's attributes text: ``{"category id": count}``.

    On every label write, so image labels (a list of annotations) take a
    short path; anything else goes through :func:`.search.category_counts`.
    """
    attrs = orjson.loads(attributes_json)
    anns = attrs.get("annotations") if type(attrs) is dict else None
    if type(anns) is list and "frames" not in attrs and "sensors" not in attrs:
        counts: dict[int, int] = {}
        for a in anns:
            cid = a.get("category_id") if type(a) is dict else None
            if type(cid) is int:
                counts[cid] = counts.get(cid, 0) + 1
    else:
        counts = category_counts(attrs)
    return orjson.dumps(counts, option=orjson.OPT_NON_STR_KEYS).decode()


class AlreadyExists(Exception):
    """The object to create is already there."""


@dataclass(slots=True)
class DatasetInfo:
    """A dataset as the routes need it, cached for the life of the store."""

    id: int
    owner: str
    name: str
    description: str
    task_type: str
    task_attributes_json: str
    created_at: str
    spec: TaskSpec
    # name → (description, created_at), in creation order
    labelsets: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True, slots=True)
class SeedResult:
    datasets: int
    labelsets: int
    samples: int
    labels: int

"""A manifest written into the sandbox database: what it has and the db lacks.

:func:`insert_manifest` adds a manifest's datasets, label sets, samples and
their labels with ``INSERT OR IGNORE`` everywhere, so that reseeding an
existing database neither duplicates nor overwrites anything already there: a
sample that is already present (same uuid or same name) keeps the labels the
db has. A label's ``counts`` column is written with it (:func:`.schema.counts_json`).
The caller holds the transaction and refreshes its caches
(:meth:`~upload_preds.sandbox.store.Store.seed`).
"""

from __future__ import annotations

import sqlite3

import orjson

from upload_preds.sandbox.manifest import Manifest
from upload_preds.sandbox.schema import USERNAME, SeedResult, counts_json

__all__ = ["insert_manifest"]


def insert_manifest(conn: sqlite3.Connection, manifest: Manifest, now: str) -> SeedResult:
    """Insert what ``manifest`` has and the db lacks; how many of each were new."""
    counts = [0, 0, 0, 0]
    for d in manifest.datasets:
        cur = conn.execute(
            "INSERT OR IGNORE INTO datasets "
            "(owner, name, description, task_type, task_attributes, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                d.owner,
                d.name,
                d.description,
                d.task_type,
                orjson.dumps(d.task_attributes).decode(),
                now,
            ),
        )
        counts[0] += cur.rowcount
        did = conn.execute(
            "SELECT id FROM datasets WHERE owner = ? AND name = ?", (d.owner, d.name)
        ).fetchone()[0]
        for ls_name, ls_desc in d.labelsets:
            cur = conn.execute(
                "INSERT OR IGNORE INTO labelsets (dataset_id, name, description, created_at)"
                " VALUES (?, ?, ?, ?)",
                (did, ls_name, ls_desc, now),
            )
            counts[1] += cur.rowcount
        for s in d.samples:
            cur = conn.execute(
                "INSERT OR IGNORE INTO samples (uuid, dataset_id, name, attributes, "
                "metadata, priority, readme, created_at, created_by) "
                "VALUES (?, ?, ?, ?, ?, ?, '', ?, ?)",
                (
                    s.uuid,
                    did,
                    s.name,
                    orjson.dumps(s.attributes).decode(),
                    orjson.dumps(s.metadata).decode(),
                    s.priority,
                    now,
                    USERNAME,
                ),
            )
            if cur.rowcount == 0:
                # Already there (same uuid or same name): its labels are
                # whatever the db has; the manifest does not overwrite.
                continue
            counts[2] += 1
            for lab in s.labels:
                attrs = orjson.dumps(lab.attributes).decode()
                cur = conn.execute(
                    "INSERT OR IGNORE INTO labels (sample_uuid, labelset, label_status, "
                    "attributes, score, created_at, created_by, updated_at, updated_by, "
                    "counts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        s.uuid,
                        lab.labelset,
                        lab.label_status,
                        attrs,
                        lab.score,
                        now,
                        lab.created_by,
                        now,
                        lab.created_by,
                        counts_json(attrs),
                    ),
                )
                counts[3] += cur.rowcount
    return SeedResult(*counts)

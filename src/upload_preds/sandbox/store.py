"""The sandbox's data, persisted in SQLite.

One :class:`Store` owns one ``sqlite3`` connection and is used from one
thread only (the server's event-loop thread): no locks, no thread pool; a
label PUT is one cached prepared upsert executed inline. SQLite runs in WAL
mode with ``synchronous=NORMAL``: a commit does not fsync (the WAL is synced at
checkpoints), so a crash of the machine, not of the process, may lose the last
commits, which is acceptable for a sandbox. Checkpoints (which do fsync)
run in a background thread on a second connection, not on the loop thread.

Label writes open a transaction (:meth:`Store._begin`) and leave it open;
the server commits once per event-loop iteration for all the writes made in
it (group commit, see ``Sandbox._committed``) and answers each request only
after its commit. :meth:`Store.commit` is also called right after the rare
other writes (label sets, samples, assets) and on close.

Datasets and their label sets are few and read on every request, so they are
cached in :class:`DatasetInfo` objects (kept in step by the methods that
change them); sample uuid → dataset is cached as samples are seen. JSON
values (attributes, metadata) are stored as the text they arrived as and sent
back as :class:`orjson.Fragment`, never parsed twice.

Every label row also keeps ``counts``, its objects per category id as a small
JSON object (``{"1": 2, "3": 1}``, from :func:`.search.category_counts`),
written by the same statement that writes the label (databases from before
the column get it added and filled when opened). The review page's search and
sorting read them through ``Store.review`` (:mod:`.review_index`), an
in-memory index this store's writes keep in step.

The sample list's ``name__contains`` filter reads a trigram index of the
names (:mod:`.name_index`), not every sample; the store indexes what it
inserts, and on open whatever was inserted into the file behind its back.

Seeding (:mod:`.seeding`) uses ``INSERT OR IGNORE`` everywhere: reseeding an
existing database neither duplicates nor overwrites anything that is already there.

The tables, the column lists and the row shapes the routes share are in
:mod:`.schema`.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any

import orjson

from upload_preds.sandbox.manifest import Manifest
from upload_preds.sandbox.name_index import NameIndex
from upload_preds.sandbox.review_index import ReviewQueries
from upload_preds.sandbox.schema import (
    LABEL_COLS,
    SAMPLE_COLS,
    SCHEMA,
    SCHEMA_VERSION,
    SORTS,
    USERNAME,
    AlreadyExists,
    DatasetInfo,
    LabelRow,
    SeedResult,
    counts_json,
)
from upload_preds.sandbox.seeding import insert_manifest
from upload_preds.sandbox.validate import PSEUDO_STATUS_UNLABELED, TaskSpec


class _Clock:
    """UTC timestamps as the platform writes them (ISO 8601, microseconds, ``Z``).

    Strictly increasing within the process, so a label's ``created_at`` equals
    the ``now`` of exactly one write (the upsert relies on it), and cheap: the
    date-time part is formatted once per second, not per call.
    """

    def __init__(self) -> None:
        self._last_us = 0
        self._sec = -1
        self._prefix = ""

    def now(self) -> str:
        us = max(int(time.time() * 1_000_000), self._last_us + 1)
        self._last_us = us
        sec, frac = divmod(us, 1_000_000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._prefix}.{frac:06d}Z"


now_iso = _Clock().now


class _Checkpointer:
    """Copies the WAL back into the database file every half second, off the loop thread.

    A PASSIVE checkpoint from a second connection never blocks the writer; it
    only takes the fsyncs (WAL, then database file) that ``synchronous=NORMAL``
    does at checkpoints away from the thread that answers requests.
    """

    INTERVAL_S = 0.5

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.INTERVAL_S):
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                # Busy or locked: the next round catches up; close() checkpoints fully.
                continue

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        self._conn.close()


class Store:
    """All persistent state of one sandbox. Use from a single thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:" and not os.path.exists(path):
            # Labels are someone's work: the database is the user's alone (SQLite gives
            # its -wal and -shm files the database file's mode).
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        # check_same_thread=False only because the store is created in the
        # thread that starts the sandbox and then used by the loop thread;
        # it is never used by two threads at once.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn = self._conn
        self._checkpointer: _Checkpointer | None = None
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
            # Checkpoints fsync; run on the loop thread they would stall every
            # request for milliseconds, so a background thread does them.
            conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
        conn.create_function("upload_preds_counts", 1, counts_json, deterministic=True)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(labels)")}
        if "counts" not in columns:
            # A database from before the column: add it and fill it in once.
            conn.execute("ALTER TABLE labels ADD COLUMN counts TEXT")
            conn.execute(
                "UPDATE labels SET counts = upload_preds_counts(attributes) WHERE counts IS NULL"
            )
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (SCHEMA_VERSION,),
        )
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('storage_secret', ?)",
            (secrets.token_hex(32),),
        )
        self.storage_secret: str = conn.execute(
            "SELECT value FROM meta WHERE key = 'storage_secret'"
        ).fetchone()[0]
        self._datasets: dict[tuple[str, str], DatasetInfo] = {}
        self._by_id: dict[int, DatasetInfo] = {}
        self._sample_ds: dict[str, DatasetInfo] = {}
        #: The review page's search over an index this store keeps in step.
        self.review = ReviewQueries(conn, self.dataset_of_sample)
        #: ``name__contains`` by a trigram index, not a scan (see name_index.py).
        self.names = NameIndex(conn)
        self._load_datasets()
        if path != ":memory:":
            self._checkpointer = _Checkpointer(path)

    def _begin(self) -> None:
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN")

    @property
    def pending(self) -> bool:
        """Whether writes are waiting for :meth:`commit`."""
        return self._conn.in_transaction

    def commit(self) -> None:
        """Make every write so far durable (no-op when nothing is pending)."""
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's connection, for diagnostics only (query plans, VM step counts)."""
        return self._conn

    def rollback(self) -> None:
        """Undo every write since the last commit (after a failed COMMIT)."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        # The caches may hold what was just undone.
        self.review.clear()
        self._sample_ds.clear()
        self.names.forget()

    def close(self) -> None:
        self.commit()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self.path != ":memory:":
            # Fold the WAL back into the main file so the db is one file at rest.
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    # -- datasets and label sets -------------------------------------------------

    def _load_datasets(self) -> None:
        rows = self._conn.execute(
            "SELECT id, owner, name, description, task_type, task_attributes, created_at "
            "FROM datasets ORDER BY id"
        ).fetchall()
        for did, owner, name, desc, task_type, ta_json, created in rows:
            spec = TaskSpec.build(task_type, orjson.loads(ta_json))
            info = DatasetInfo(did, owner, name, desc, task_type, ta_json, created, spec)
            for ls_name, ls_desc, ls_created in self._conn.execute(
                "SELECT name, description, created_at FROM labelsets WHERE dataset_id = ? "
                "ORDER BY created_at, name",
                (did,),
            ):
                info.labelsets[ls_name] = (ls_desc, ls_created)
            self._datasets[(owner, name)] = info
            self._by_id[did] = info

    def datasets(self) -> list[DatasetInfo]:
        return list(self._datasets.values())

    def dataset(self, owner: str, name: str) -> DatasetInfo | None:
        return self._datasets.get((owner, name))

    def add_labelset(self, ds: DatasetInfo, name: str, description: str) -> tuple[str, str]:
        if name in ds.labelsets:
            raise AlreadyExists(name)
        created = now_iso()
        self._conn.execute(
            "INSERT INTO labelsets (dataset_id, name, description, created_at) VALUES (?, ?, ?, ?)",
            (ds.id, name, description, created),
        )
        ds.labelsets[name] = (description, created)
        return description, created

    def seed(self, manifest: Manifest) -> SeedResult:
        """Add what the manifest has and the db lacks, in one transaction."""
        conn = self._conn
        now = now_iso()
        conn.execute("BEGIN IMMEDIATE")
        try:
            counts = insert_manifest(conn, manifest, now)
            self.names.catch_up()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._datasets.clear()
        self._by_id.clear()
        self._sample_ds.clear()
        self.review.clear()
        self._load_datasets()
        return counts

    # -- samples -------------------------------------------------------------------

    def dataset_of_sample(self, sample_uuid: str) -> DatasetInfo | None:
        ds = self._sample_ds.get(sample_uuid)
        if ds is None:
            row = self._conn.execute(
                "SELECT dataset_id FROM samples WHERE uuid = ?", (sample_uuid,)
            ).fetchone()
            if row is None:
                return None
            ds = self._by_id[row[0]]
            self._sample_ds[sample_uuid] = ds
        return ds

    def sample(self, sample_uuid: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._conn.execute(
            f"SELECT {SAMPLE_COLS}, s.dataset_id FROM samples s WHERE s.uuid = ?",
            (sample_uuid,),
        ).fetchone()
        return row

    def list_samples(
        self,
        ds: DatasetInfo,
        *,
        labelset: str,
        name_contains: str | None,
        statuses: Iterable[str] | None,
        metadata_filters: Iterable[tuple[str, str]] = (),
        sort: str,
        descending: bool,
        limit: int,
        offset: int,
    ) -> list[tuple[Any, ...]]:
        """Sample rows followed by the label columns of ``labelset`` (NULLs when unlabeled)."""
        indexed = self.names.candidates(name_contains) if name_contains else None
        source, params = indexed if indexed is not None else ("FROM samples s ", [])
        sql = [f"SELECT {SAMPLE_COLS}, {LABEL_COLS} ", source]
        sql.append("LEFT JOIN labels l ON l.sample_uuid = s.uuid AND l.labelset = ? ")
        params.append(labelset)
        if sort == "gt_label__updated_at":
            sql.append("LEFT JOIN labels g ON g.sample_uuid = s.uuid AND g.labelset = ? ")
            params.append("ground-truth")
        sql.append("WHERE s.dataset_id = ? ")
        params.append(ds.id)
        if name_contains:
            # Also on the index's candidates: the answer is exactly the scan's.
            sql.append("AND instr(s.name, ?) > 0 ")
            params.append(name_contains)
        if statuses is not None:
            wanted = set(statuses)
            real = sorted(wanted - {PSEUDO_STATUS_UNLABELED})
            clauses = []
            if real:
                clauses.append(f"l.label_status IN ({', '.join('?' * len(real))})")
                params.extend(real)
            if PSEUDO_STATUS_UNLABELED in wanted:
                clauses.append("l.label_status IS NULL")
            sql.append(f"AND ({' OR '.join(clauses)}) ")
        for key, value in metadata_filters:
            # Metadata filters compare the value's text form, as ?filters=key:value can't type it.
            sql.append("AND CAST(json_extract(s.metadata, ?) AS TEXT) = ? ")
            params += ['$."' + key.replace('"', "") + '"', value]
        direction = "DESC" if descending else "ASC"
        sql.append(f"ORDER BY {SORTS[sort]} {direction}, s.name {direction}, s.uuid ")
        sql.append("LIMIT ? OFFSET ?")
        params += [limit, offset]
        return self._conn.execute("".join(sql), params).fetchall()

    def add_sample(
        self,
        ds: DatasetInfo,
        *,
        name: str,
        attributes_json: str,
        metadata_json: str,
        priority: float,
        readme: str,
        assigned_labeler: str | None,
        assigned_reviewer: str | None,
        sample_uuid: str,
    ) -> bool:
        """Insert a sample; False when the dataset already has one of that name."""
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO samples (uuid, dataset_id, name, attributes, metadata, "
            "priority, readme, assigned_labeler, assigned_reviewer, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sample_uuid,
                ds.id,
                name,
                attributes_json,
                metadata_json,
                priority,
                readme,
                assigned_labeler,
                assigned_reviewer,
                now_iso(),
                USERNAME,
            ),
        )
        if cur.rowcount:
            self._sample_ds[sample_uuid] = ds
            self.review.sample_added(ds, sample_uuid, name)
            self.names.catch_up()
        return bool(cur.rowcount)

    def sample_by_name(self, ds: DatasetInfo, name: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._conn.execute(
            f"SELECT {SAMPLE_COLS}, s.dataset_id FROM samples s "
            "WHERE s.dataset_id = ? AND s.name = ?",
            (ds.id, name),
        ).fetchone()
        return row

    def count_samples(self, ds: DatasetInfo) -> int:
        n: int = self._conn.execute(
            "SELECT count(*) FROM samples WHERE dataset_id = ?", (ds.id,)
        ).fetchone()[0]
        return n

    # -- labels --------------------------------------------------------------------

    def label(self, sample_uuid: str, labelset: str) -> LabelRow | None:
        row: LabelRow | None = self._conn.execute(
            f"SELECT {LABEL_COLS} FROM labels l WHERE l.sample_uuid = ? AND l.labelset = ?",
            (sample_uuid, labelset),
        ).fetchone()
        return row

    def put_label(
        self,
        sample_uuid: str,
        labelset: str,
        label_status: str,
        attributes_json: str,
        score: float | None,
    ) -> tuple[LabelRow, bool]:
        """Create or replace a label; returns the stored row and whether it was created.

        One upsert statement; "created" is read off ``created_at``, which only a
        fresh insert sets to this call's (unique) timestamp.
        """
        now = now_iso()
        self._begin()
        counts = counts_json(attributes_json)
        created, created_by = self._conn.execute(
            "INSERT INTO labels (sample_uuid, labelset, label_status, attributes, score, "
            "created_at, created_by, updated_at, updated_by, counts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (sample_uuid, labelset) DO UPDATE SET "
            "label_status = excluded.label_status, attributes = excluded.attributes, "
            "score = excluded.score, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by, counts = excluded.counts "
            "RETURNING created_at, created_by",
            (
                sample_uuid,
                labelset,
                label_status,
                attributes_json,
                score,
                now,
                USERNAME,
                now,
                USERNAME,
                counts,
            ),
        ).fetchone()
        if self.review.active:
            self.review.label_changed(
                sample_uuid,
                labelset,
                (label_status, score, orjson.loads(counts)),
            )
        row: LabelRow = (
            sample_uuid,
            labelset,
            label_status,
            attributes_json,
            score,
            created,
            created_by,
            now,
            USERNAME,
        )
        return row, created == now

    def delete_label(self, sample_uuid: str, labelset: str) -> bool:
        self._begin()
        cur = self._conn.execute(
            "DELETE FROM labels WHERE sample_uuid = ? AND labelset = ?", (sample_uuid, labelset)
        )
        if self.review.active:
            self.review.label_changed(sample_uuid, labelset, None)
        return bool(cur.rowcount)

    def label_status_counts(self, ds: DatasetInfo, labelset: str) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT l.label_status, count(*) FROM labels l JOIN samples s ON s.uuid = l.sample_uuid "
            "WHERE s.dataset_id = ? AND l.labelset = ? GROUP BY l.label_status",
            (ds.id, labelset),
        ).fetchall()
        return {str(status): int(n) for status, n in rows}

    def label_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{dataset full name: {label set: {status: count}}}`` over the whole store."""
        out: dict[str, dict[str, dict[str, int]]] = {
            ds.full_name: {ls: {} for ls in ds.labelsets} for ds in self._datasets.values()
        }
        for did, labelset, status, n in self._conn.execute(
            "SELECT s.dataset_id, l.labelset, l.label_status, count(*) FROM labels l "
            "JOIN samples s ON s.uuid = l.sample_uuid GROUP BY 1, 2, 3"
        ):
            full = self._by_id[did].full_name
            out[full].setdefault(labelset, {})[status] = n
        return out

    # -- assets --------------------------------------------------------------------

    def add_asset(self, asset_uuid: str, filename: str) -> str:
        created = now_iso()
        self._conn.execute(
            "INSERT INTO assets (uuid, filename, created_at) VALUES (?, ?, ?)",
            (asset_uuid, filename, created),
        )
        return created

    def asset(self, asset_uuid: str) -> tuple[str, str | None, bytes | None] | None:
        row: tuple[str, str | None, bytes | None] | None = self._conn.execute(
            "SELECT filename, content_type, data FROM assets WHERE uuid = ?", (asset_uuid,)
        ).fetchone()
        return row

    def store_asset_data(self, asset_uuid: str, content_type: str | None, data: bytes) -> bool:
        cur = self._conn.execute(
            "UPDATE assets SET content_type = ?, data = ? WHERE uuid = ?",
            (content_type, data, asset_uuid),
        )
        return bool(cur.rowcount)

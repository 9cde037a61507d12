"""The journal: a durable record of which labels were uploaded, for resume and dedupe.

One SQLite file (WAL mode) with one row per label::

    (dataset, sample uuid, label set)  ->  payload hash, time of upload,
                                           status sent, updated_at answered

``dataset`` is the dataset's identity as the API gives it
(:meth:`~upload_preds.preflight.DatasetInfo.identity`: server, name, uuid or
``created_at``), not a URL alone: a dataset deleted and created again at the
same address, or a sandbox whose database was recreated, is another dataset
with an empty record.

The journal is not believed over the server. :meth:`Journal.lookup` returns
what was recorded; the engine skips a label as "already uploaded" only when
the payload is identical *and* the preflight's snapshot shows that label on
the server with the status we sent and the ``updated_at`` our PUT's answer
gave (:meth:`~upload_preds.preflight.Guard.confirms`). A label deleted, or
edited by a person since, is uploaded again (or guarded, without
``--overwrite``).

The payload hash is a 16-byte BLAKE2b digest of the exact bytes sent: the PUT
body encoded by orjson with sorted keys (:func:`encode_body`), so a rerun of
the same prediction has the same hash and is skipped, while a changed
prediction hashes differently and is sent again. The API key is never stored;
the file is created readable by its owner only (0600): it names datasets and
samples. A file that is not a journal (corrupt, or another program's) is a
:class:`~upload_preds.errors.SetupError` naming it, never a traceback.

Durability and the precise loss bound
-------------------------------------
``record()`` only appends to an in-memory batch; the batch is committed when
it holds ``batch_size`` labels, when ``flush_interval`` seconds have passed
since the last commit (checked on every ``record()`` and by the engine's
periodic ``flush()``), and on ``close()``. With WAL and ``synchronous=NORMAL``
a committed batch survives the process being killed (it is in the OS's
page cache; only a power loss can lose it).

So after a ``kill -9`` the labels the server has but the journal lacks are at
most ``in_flight + batch_size - 1``: the requests in flight (whose answer had
not been processed) plus the uncommitted batch. The engine sets
``batch_size = concurrency``, so the bound is ``2 x concurrency - 1`` labels,
which a rerun sends again; PUT is an idempotent upsert, so the only cost is
those extra requests: the server sees at most N + 2 x concurrency PUTs for N
labels over the killed run and the rerun (without faults that cause retries).

A lookup (:meth:`Journal.lookup`) is one primary-key SELECT on a
``WITHOUT ROWID`` table: a few microseconds. Labels recorded but not yet
committed are found too (they are checked in the pending batch first).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import platformdirs

from upload_preds.errors import SetupError

__all__ = ["Entry", "Journal", "default_journal_path", "encode_body", "payload_hash"]

# 2: rows keyed by dataset identity, with the status sent and the updated_at answered.
_SCHEMA_VERSION = 2


@dataclass(frozen=True, slots=True)
class Entry:
    """What the journal holds about one label."""

    digest: bytes
    recorded_at: float  # wall clock, seconds
    status: str | None  # the label_status we sent
    stamp: str | None  # the updated_at the server answered, None when it gave none


def default_journal_path() -> Path:
    """``<user state dir>/upload-preds/journal.sqlite3`` (platformdirs)."""
    return Path(platformdirs.user_state_dir("upload-preds")) / "journal.sqlite3"


def encode_body(body: dict[str, Any]) -> bytes:
    """The canonical encoding of a PUT body: what is sent and what is hashed."""
    out = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    if len(out) > 65536:
        # orjson's bytes keep the allocation of its working buffer, tens of MB for a
        # 120,000-point segmentation label; a right-sized copy frees it at once.
        # Without it the uploader's RSS grew from 183 to 350 MiB between 100 and
        # 1,000 such labels (bench/bench_pcseg.py); small bodies are left alone.
        return bytes(memoryview(out))
    return out


def payload_hash(payload: bytes) -> bytes:
    """16-byte BLAKE2b digest of an encoded body."""
    return hashlib.blake2b(payload, digest_size=16).digest()


class Journal:
    """The SQLite journal at ``path`` (default :func:`default_journal_path`)."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        batch_size: int = 200,
        flush_interval: float = 0.1,
    ) -> None:
        self.path = Path(path) if path is not None else default_journal_path()
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self._pending: dict[tuple[str, str, str], tuple[bytes, float, str | None, str | None]] = {}
        self._last_flush = time.monotonic()
        self.committed = 0
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Created 0600 before SQLite opens it (SQLite gives its -wal/-shm files
                # the database file's mode): it names datasets and samples.
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
            self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0)
        except OSError as exc:
            raise self._unusable(exc.strerror or str(exc)) from None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise self._unusable(str(exc)) from None

    def _open(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is not None and not (str(row[0]).isdigit() and int(row[0]) <= _SCHEMA_VERSION):
            raise sqlite3.DatabaseError(
                f"it was written by a newer upload-preds (journal version {row[0]})"
            )
        if row is not None and int(row[0]) < _SCHEMA_VERSION:
            # Version 1 rows are keyed by URL and hold nothing to check them against
            # the server: dropped (their labels are sent once more; PUT is an upsert).
            db.execute("DROP TABLE IF EXISTS uploaded")
        db.execute(
            "CREATE TABLE IF NOT EXISTS uploaded ("
            " dataset TEXT NOT NULL, sample_uuid TEXT NOT NULL, labelset TEXT NOT NULL,"
            " payload_hash BLOB NOT NULL, uploaded_at REAL NOT NULL,"
            " status TEXT, updated_at TEXT,"
            " PRIMARY KEY (dataset, sample_uuid, labelset)) WITHOUT ROWID"
        )
        db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(_SCHEMA_VERSION),)
        )

    def _unusable(self, why: str) -> SetupError:
        return SetupError(
            f"--state {self.path} cannot be used as a journal: {why}",
            hint="move the file away (or pass another --state FILE) and run again; the "
            "journal only speeds up reruns, the labels on the server are what counts",
        )

    def __repr__(self) -> str:
        return f"Journal(path={str(self.path)!r})"

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def lookup(self, dataset: str, sample_uuid: str, labelset: str) -> Entry | None:
        """What was recorded for this label (pending or committed), or None."""
        key = (dataset, sample_uuid, labelset)
        pending = self._pending.get(key)
        if pending is not None:
            return Entry(*pending)
        row = self._db.execute(
            "SELECT payload_hash, uploaded_at, status, updated_at FROM uploaded"
            " WHERE dataset=? AND sample_uuid=? AND labelset=?",
            key,
        ).fetchone()
        return None if row is None else Entry(bytes(row[0]), float(row[1]), row[2], row[3])

    def already_uploaded(
        self, dataset: str, sample_uuid: str, labelset: str, digest: bytes
    ) -> bool:
        """Was exactly this payload recorded for this label (whatever the server says)?"""
        entry = self.lookup(dataset, sample_uuid, labelset)
        return entry is not None and entry.digest == digest

    def record(
        self,
        dataset: str,
        sample_uuid: str,
        labelset: str,
        digest: bytes,
        status: str | None = None,
        stamp: str | None = None,
    ) -> None:
        """Remember an upload; committed with the next batch."""
        self._pending[(dataset, sample_uuid, labelset)] = (digest, time.time(), status, stamp)
        if (
            len(self._pending) >= self.batch_size
            or time.monotonic() - self._last_flush >= self.flush_interval
        ):
            self.flush()

    def flush(self) -> None:
        """Commit the pending batch (a no-op when empty)."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        rows = [(k, u, ls, *v) for (k, u, ls), v in self._pending.items()]
        self._db.execute("BEGIN")
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO uploaded VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self.committed += len(rows)
        self._pending.clear()

    def count(self, dataset: str | None = None, labelset: str | None = None) -> int:
        """How many labels are recorded (committed), optionally for one dataset
        (and one of its label sets)."""
        query = "SELECT count(*) FROM uploaded"
        args: tuple[str, ...] = ()
        if dataset is not None:
            query += " WHERE dataset=?"
            args = (dataset,)
            if labelset is not None:
                query += " AND labelset=?"
                args = (dataset, labelset)
        return int(self._db.execute(query, args).fetchone()[0])

    def close(self) -> None:
        """Commit what is pending and close the file."""
        try:
            self.flush()
        finally:
            self._db.close()

"""The journal: a durable record of which labels were uploaded, for resume and dedupe.

One SQLite file (WAL mode) with one row per label::

    (api host, sample uuid, label set)  ->  payload hash, time of upload

The payload hash is a 16-byte BLAKE2b digest of the exact bytes sent: the PUT
body encoded by orjson with sorted keys (:func:`encode_body`), so a rerun of
the same prediction has the same hash and is skipped, while a changed
prediction hashes differently and is sent again. The API key is never stored;
the host is scheme://host[:port][/path] of the API URL.

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

A lookup (:meth:`Journal.already_uploaded`) is one primary-key SELECT on a
``WITHOUT ROWID`` table: a few microseconds. Labels recorded but not yet
committed are found too (they are checked in the pending batch first).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import platformdirs

__all__ = ["Journal", "default_journal_path", "encode_body", "payload_hash"]

_SCHEMA_VERSION = 1


def default_journal_path() -> Path:
    """``<user state dir>/upload-preds/journal.sqlite3`` (platformdirs)."""
    return Path(platformdirs.user_state_dir("upload-preds")) / "journal.sqlite3"


def encode_body(body: dict[str, Any]) -> bytes:
    """The canonical encoding of a PUT body: what is sent and what is hashed."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


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
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
        self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS uploaded ("
            " host TEXT NOT NULL, sample_uuid TEXT NOT NULL, labelset TEXT NOT NULL,"
            " payload_hash BLOB NOT NULL, uploaded_at REAL NOT NULL,"
            " PRIMARY KEY (host, sample_uuid, labelset)) WITHOUT ROWID"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(_SCHEMA_VERSION),)
        )
        self._pending: dict[tuple[str, str, str], tuple[bytes, float]] = {}
        self._last_flush = time.monotonic()
        self.committed = 0

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

    def already_uploaded(self, host: str, sample_uuid: str, labelset: str, digest: bytes) -> bool:
        """Was exactly this payload uploaded for this label before?"""
        key = (host, sample_uuid, labelset)
        pending = self._pending.get(key)
        if pending is not None:
            return pending[0] == digest
        row = self._db.execute(
            "SELECT payload_hash FROM uploaded WHERE host=? AND sample_uuid=? AND labelset=?",
            key,
        ).fetchone()
        return row is not None and bytes(row[0]) == digest

    def record(self, host: str, sample_uuid: str, labelset: str, digest: bytes) -> None:
        """Remember an upload; committed with the next batch."""
        self._pending[(host, sample_uuid, labelset)] = (digest, time.time())
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
        rows = [(h, u, ls, d, t) for (h, u, ls), (d, t) in self._pending.items()]
        self._db.execute("BEGIN")
        try:
            self._db.executemany("INSERT OR REPLACE INTO uploaded VALUES (?, ?, ?, ?, ?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self.committed += len(rows)
        self._pending.clear()

    def count(self, host: str | None = None) -> int:
        """How many labels are recorded (committed), optionally for one host."""
        if host is None:
            row = self._db.execute("SELECT count(*) FROM uploaded").fetchone()
        else:
            row = self._db.execute("SELECT count(*) FROM uploaded WHERE host=?", (host,)).fetchone()
        return int(row[0])

    def close(self) -> None:
        """Commit what is pending and close the file."""
        try:
            self.flush()
        finally:
            self._db.close()

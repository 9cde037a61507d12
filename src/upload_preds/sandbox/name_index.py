"""A substring index of sample names, so ``name__contains`` costs about its matches.

The sample list's ``name__contains`` filter is a case-sensitive substring
test (``instr``, as Django's ``__contains``). Answered by a scan, one lookup
read every sample of the dataset: 0.1 s a lookup at 1,000,000 samples on this
machine, so the 1,000 lookups of a preflight took the single-threaded
sandbox 100 s. This module keeps an SQLite FTS5 table with the ``trigram``
tokenizer (``case_sensitive 1``: no case folding) over ``samples.name``, as
an *external-content* table: it stores only the index, the names stay in
``samples`` (rowids tie the two together). Every name containing a query
contains each of the query's trigrams, so the names holding its two
*rarest* trigrams (``"t1" AND "t2"``, each a quoted string: ``"`` doubled is
the only escaping, so ``%``, ``_``, ``*`` and any unicode are literal) are a
superset of the answer; the list query keeps its ``instr`` test on those
candidates, so the answer is exactly the scan's. Rarity comes from the
index's own document counts (an ``fts5vocab`` table, read once, lazily, then
kept up to date by the inserts; a wrong count costs time, never an answer).
A query shorter than three characters has no trigram and is scanned.

Measured on this machine, 1,000,000 names ``frame_0000000.jpg``..: a lookup
by the scan 93-99 ms; by the phrase of all the query's trigrams 11-12 ms
(the posting lists of ``fra``, ``jpg``.. are a million entries each); by
the two rarest 0.2-2 ms, after reading the counts once (0.4 s); the index
build 4.7-5.8 s on a WAL file. Other options measured: ``detail=none``
cannot run phrase queries and its ``GLOB`` form took 9.4 ms; ``LIKE`` on the
FTS table is not indexed with ``case_sensitive 1`` (0.2 s); a sorted-name
B-tree (the ``UNIQUE (dataset_id, name)`` index) answers prefixes only, not
substrings. Keeping the index in step with a trigger cost 65 s per million
inserts, ten times the bulk ``INSERT ... SELECT`` of 5.8 s, so no trigger:
:meth:`NameIndex.catch_up` indexes every sample whose rowid is above the
highest one indexed (kept in ``meta``). The store calls it after its own
inserts and when it opens a database, which also indexes a database from
before the index, or samples a benchmark inserted into the file directly.
Samples are never deleted, renamed or vacuumed by the sandbox, so rowids
only grow.
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = ["MIN_INDEXED", "NameIndex"]

#: Shorter queries have no trigram: they are answered by scanning.
MIN_INDEXED = 3

_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS sample_names USING fts5(
    name, content='samples', content_rowid='rowid',
    tokenize='trigram case_sensitive 1'
);
"""
_META_KEY = "sample_names_rowid"


class NameIndex:
    """The trigram index of one database's sample names (see the module docstring)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.executescript(_SCHEMA)
        # Documents per trigram, read from the index when first needed.
        self._docs: dict[str, int] | None = None
        self.catch_up()

    def forget(self) -> None:
        """Drop the trigram counts (after a rollback): they are read again when needed."""
        self._docs = None

    def catch_up(self) -> int:
        """Index the samples added since the last call; returns how many."""
        conn = self._conn
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_META_KEY,)).fetchone()
        done = int(row[0]) if row is not None else 0
        top = conn.execute("SELECT max(rowid) FROM samples").fetchone()[0] or 0
        if top <= done:
            return 0
        # One savepoint: the index and its high-water mark change together or not at all
        # (inside the caller's transaction, when there is one).
        conn.execute("SAVEPOINT name_index")
        try:
            cur = conn.execute(
                "INSERT INTO sample_names (rowid, name) "
                "SELECT rowid, name FROM samples WHERE rowid > ? AND rowid <= ?",
                (done, top),
            )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_META_KEY, str(top)),
            )
        except BaseException:
            conn.execute("ROLLBACK TO name_index")
            conn.execute("RELEASE name_index")
            raise
        conn.execute("RELEASE name_index")
        docs = self._docs
        if docs is not None and top - done > 1000:
            self._docs = None  # many new names: cheaper to read the counts again
        elif docs is not None:
            for (name,) in conn.execute(
                "SELECT name FROM samples WHERE rowid > ? AND rowid <= ?", (done, top)
            ):
                for tri in _trigrams(name):
                    docs[tri] = docs.get(tri, 0) + 1
        return cur.rowcount

    def _counts(self) -> dict[str, int]:
        if self._docs is None:
            conn = self._conn
            conn.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.sample_names_vocab "
                "USING fts5vocab(main, sample_names, row)"
            )
            self._docs = dict(conn.execute("SELECT term, doc FROM temp.sample_names_vocab"))
        return self._docs

    def candidates(self, text: str) -> tuple[str, list[Any]] | None:
        """A ``FROM`` clause giving ``samples s`` limited to names that hold the two
        rarest trigrams of ``text``, with its parameters; None when ``text`` is too
        short to index.

        ``CROSS JOIN`` keeps SQLite from driving the query by the dataset's
        name index and probing the index once per sample (measured: 95 ms).
        """
        if len(text) < MIN_INDEXED:
            return None
        docs = self._counts()
        rarest = sorted(_trigrams(text), key=lambda t: (docs.get(t, 0), t))[:2]
        query = " AND ".join('"' + t.replace('"', '""') + '"' for t in rarest)
        return (
            "FROM (SELECT rowid AS rid FROM sample_names WHERE sample_names MATCH ?) m "
            "CROSS JOIN samples s ON s.rowid = m.rid ",
            [query],
        )


def _trigrams(text: str) -> set[str]:
    """Every run of three characters, as the ``trigram`` tokenizer cuts them."""
    return {text[i : i + 3] for i in range(len(text) - 2)}

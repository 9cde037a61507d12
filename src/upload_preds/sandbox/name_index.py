"""A substring index of sample names, so ``name__contains`` costs about its matches.

The sample list's ``name__contains`` filter is a case-sensitive substring
test (``instr``, as Django's ``__contains``). Answered by a scan, one lookup
read every sample of the dataset: 0.1 s a lookup at 1,000,000 samples on this
machine, so the 1,000 lookups of a preflight took the single-threaded
sandbox 100 s. This module keeps an SQLite FTS5 table with the ``trigram``
tokenizer (``case_sensitive 1``: no case folding, so a candidate set is
never smaller than the scan's answer) over ``samples.name``, as an
*external-content* table: it stores only the index, the names stay in
``samples`` (rowids tie the two together). A query of three or more
characters is the FTS5 phrase of its trigrams (consecutive trigrams, that is
the substring; ``"`` doubled is the only escaping a phrase needs, so ``%``,
``_``, ``*`` and any unicode are literal); the list query keeps its
``instr`` test on the candidates, so the answer is exactly the scan's. A
query shorter than three characters has no trigram and is answered by the
scan, as before.

Measured on this machine, 1,000,000 names ``frame_0000000.jpg``..: a lookup
by the scan 93-99 ms; by the phrase 3.8 ms (its common trigrams' posting
lists are read whole), joined to ``samples`` by rowid 4-12 ms; the index
build 2.2-2.8 s (5.8 s on a WAL file). Other options measured: ``detail=none``
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
        self.catch_up()

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
        return cur.rowcount

    @staticmethod
    def candidates(text: str) -> tuple[str, list[Any]] | None:
        """A ``FROM`` clause giving ``samples s`` limited to names that may contain
        ``text``, with its parameters; None when ``text`` is too short to index.

        ``CROSS JOIN`` keeps SQLite from driving the query by the dataset's
        name index and probing the phrase once per sample (measured: 95 ms).
        """
        if len(text) < MIN_INDEXED:
            return None
        phrase = '"' + text.replace('"', '""') + '"'
        return (
            "FROM (SELECT rowid AS rid FROM sample_names WHERE sample_names MATCH ?) m "
            "CROSS JOIN samples s ON s.rowid = m.rid ",
            [phrase],
        )

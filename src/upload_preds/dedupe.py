"""Find keys seen more than once, with all their locations, in bounded memory.

Two labels for the same (sample, label set) are an error (each names the
other's location) unless ``--on-duplicate last``; either way every duplicate
must be found, for inputs of millions of rows, without a dict of every key. A
label is one JSON/JSONL row, or all the CSV/TSV records of one sample in one
file (a *grouped* file): such records are one occurrence of their key, not
several, so :meth:`DuplicateIndex.add` takes ``grouped=True`` for them and
the answers collapse a grouped file's run of locations of a key to its first.

How: :meth:`DuplicateIndex.add` appends ``(key, file id, line)`` to a list;
past ``max_items`` the list is appended to hash-partitioned spill files (see
:class:`upload_preds.grouping.PartitionedSpill`) and starts over.
:meth:`DuplicateIndex.iter_duplicates` answers from memory when nothing was
spilled, else one partition at a time: a key's locations all sit in one
partition, so counting them there finds every duplicate. Both paths give the
same answer: keys in :func:`upload_preds.grouping.key_order`, each with its
locations in the order they were added. (A key's locations from one grouped
file are adjacent in that order because files are read one after the other,
so collapsing them needs no memory beyond the key's last location.)

Why not a dict of every key: at about 200 bytes per key, 1M keys is 200 MB.
Why not a Bloom filter in front: it cannot name the first location of a
duplicate without a second pass over the input, which this interface (``add``
only) does not have. Why not SQLite (the first version): measured on 200k
JSONL rows (a loaded machine), SQLite inserts cost about 7.5 us per key on top of
reading; with partition files it is about 2.7 us.

:class:`HashSieve` is the cheap first stage for a caller that can look at its
input again (the one-pass dry run): it keeps only a 64-bit hash per key and
answers which hash values were added more than once. The caller appends each
hash to one of :data:`SIEVE_PARTS` ``array('q')`` buffers chosen by its low
bits (an append costs a fraction of a dict insert, and no string is kept);
every :data:`SIEVE_CHUNK` hashes the buffers are written to one temporary file
as segments. The answer loads one partition at a time (its segments, about
1/64 of the hashes, 8 bytes each) and finds repeats with a C-level ``set``.
Repeated hashes are only candidates: the caller re-reads the rows that have
them and compares the real keys (with :class:`DuplicateIndex` semantics), so a
hash collision costs a re-read, never a wrong answer. Memory: the buffers
(at most ``SIEVE_CHUNK`` hashes, 0.5 MB) plus one partition while answering.
A sieve made with ``distinct=True`` holds the hashes of one grouped file (a CSV
record per annotation): :func:`repeated_across` counts each of its values once
however often it was added, so the records of one label never look repeated,
while the same key in two files, or in a CSV file and a JSON row, does.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import groupby
from operator import itemgetter
from types import TracebackType
from typing import Any, Final

import orjson

from upload_preds.grouping import PartitionedSpill, key_order
from upload_preds.records import Location

__all__ = [
    "DEFAULT_DEDUPE_MEMORY_ITEMS",
    "SIEVE_CHUNK",
    "SIEVE_PARTS",
    "DuplicateIndex",
    "HashSieve",
    "duplicate_message",
    "repeated_across",
]

#: Default number of keys held in memory before spilling (~180 B each: ~9 MB).
DEFAULT_DEDUPE_MEMORY_ITEMS: Final = 50_000


class DuplicateIndex:
    """Record ``(key, location)`` pairs; report the keys that occur more than once.

    Use as a context manager, or call :meth:`close`, to remove the temporary
    files. Query once, after the last :meth:`add`.
    """

    def __init__(
        self, max_items: int = DEFAULT_DEDUPE_MEMORY_ITEMS, *, tmp_dir: str | None = None
    ) -> None:
        self._limit = max_items
        self._tmp_dir = tmp_dir
        self._buf: list[tuple[str, int, int]] = []
        self._files: dict[str, int] = {}
        self._names: list[str] = []
        # File ids whose locations of one key count as one occurrence.
        self._grouped: set[int] = set()
        self._spill: PartitionedSpill | None = None
        self._done = False
        self.count = 0

    @property
    def spilled(self) -> bool:
        """Whether keys were written to disk (more than ``max_items`` were added)."""
        return self._spill is not None

    @property
    def temp_dir(self) -> str | None:
        """The directory of the spill files while it exists."""
        return self._spill.directory if self._spill is not None else None

    def add(self, key: str, loc: Location, *, grouped: bool = False) -> None:
        """Note that ``key`` occurs at ``loc``.

        ``grouped``: ``loc.file`` is a grouped file (CSV/TSV), whose locations of
        one key are all one occurrence, reported at the first of them. Add all
        of a grouped file's records before the next file's.
        """
        if self._done:
            raise RuntimeError("DuplicateIndex.add() after a query")
        fid = self._files.get(loc.file)
        if fid is None:
            fid = self._files[loc.file] = len(self._names)
            self._names.append(loc.file)
            if grouped:
                self._grouped.add(fid)
        self._buf.append((key, fid, loc.line))
        self.count += 1
        if len(self._buf) >= self._limit:
            self._flush()

    def _flush(self) -> None:
        if self._spill is None:
            # ~60 bytes a line on disk, ~200 once parsed: partitions of a quarter
            # of the in-memory budget keep the query within it.
            self._spill = PartitionedSpill(
                "upload-preds-dedupe-", self._tmp_dir, self._limit * 60 // 4
            )
        dumps = orjson.dumps
        self._spill.append(
            (key, b"[%b,%d,%d]\n" % (dumps(key), fid, line)) for key, fid, line in self._buf
        )
        self._buf.clear()

    def iter_duplicates(self) -> Iterator[tuple[str, list[Location]]]:
        """Yield ``(key, locations)`` for every key added more than once, in key order.

        Streams: memory holds one partition's keys at a time, however many
        rows are duplicates (the same file passed twice). Call it once.
        """
        if self._done:
            raise RuntimeError("DuplicateIndex can be queried once")
        self._done = True
        names = self._names
        grouped = self._grouped
        if self._spill is None:
            buf = self._buf
            buf.sort(key=lambda item: key_order(item[0]))  # stable: input order per key
            for key, group in groupby(buf, itemgetter(0)):
                units: list[tuple[int, int]] = []
                for _, f, line in group:
                    if not (units and f in grouped and units[-1][0] == f):
                        units.append((f, line))
                if len(units) > 1:
                    yield key, [Location(names[f], line) for f, line in units]
            buf.clear()
            return
        if self._buf:
            self._flush()
        loads = orjson.loads
        for lines in self._spill.partitions():
            seen: dict[str, list[tuple[int, int]] | tuple[int, int]] = {}
            dups: set[str] = set()
            for raw in lines:
                key, f, line = loads(raw)
                prev = seen.get(key)
                if prev is None:
                    seen[key] = (f, line)
                elif isinstance(prev, tuple):
                    if f in grouped and prev[0] == f:
                        continue  # the same label of a grouped file
                    seen[key] = [prev, (f, line)]
                    dups.add(key)
                elif not (f in grouped and prev[-1][0] == f):
                    prev.append((f, line))
            del lines
            for key in sorted(dups, key=key_order):
                found = seen[key]
                assert isinstance(found, list)
                yield key, [Location(names[f], line) for f, line in found]

    def duplicates(self) -> dict[str, list[Location]]:
        """Every key added more than once with all its locations in order."""
        return dict(self.iter_duplicates())

    def close(self) -> None:
        """Drop the keys and remove the temporary files (safe to call twice)."""
        self._buf.clear()
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def __enter__(self) -> DuplicateIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: Partitions of a :class:`HashSieve` (a power of two: the low bits pick one).
SIEVE_PARTS: Final = 64
#: Hashes a :class:`HashSieve` holds in memory before writing them out.
SIEVE_CHUNK: Final = 1 << 16


class HashSieve:
    """Find the 64-bit integers added more than once, in bounded memory.

    The hot loop appends directly, ``sieve.parts[h & (SIEVE_PARTS - 1)].append(h)``,
    counts its appends and calls :meth:`spill` every :data:`SIEVE_CHUNK` of them
    (:meth:`spill` is also safe to call at any other time). :meth:`repeated`
    answers once, after the last append. Use as a context manager, or call
    :meth:`close`, to remove the temporary file.
    """

    def __init__(self, *, tmp_dir: str | None = None, distinct: bool = False) -> None:
        self.parts: list[array[int]] = [array("q") for _ in range(SIEVE_PARTS)]
        #: Count each value once, however often it was added (see :func:`repeated_across`).
        self.distinct = distinct
        self._tmp_dir = tmp_dir
        self._file: Any = None
        self._path: str | None = None
        # (partition, file offset, count) of every segment written.
        self._segments: list[tuple[int, int, int]] = []
        self._done = False

    @property
    def spilled(self) -> bool:
        """Whether hashes were written to disk."""
        return self._file is not None

    def spill(self) -> None:
        """Write the buffered hashes out and empty the buffers."""
        if self._file is None:
            fd, self._path = tempfile.mkstemp(prefix="upload-preds-sieve-", dir=self._tmp_dir)
            self._file = os.fdopen(fd, "w+b")
        f = self._file
        for part, buf in enumerate(self.parts):
            if buf:
                self._segments.append((part, f.tell(), len(buf)))
                buf.tofile(f)
                del buf[:]

    def repeated(self) -> set[int]:
        """Every value added more than once. Call it once."""
        return repeated_across([self])

    def _start_query(self) -> dict[int, list[tuple[int, int]]]:
        if self._done:
            raise RuntimeError("HashSieve can be queried once")
        self._done = True
        by_part: dict[int, list[tuple[int, int]]] = {}
        for part, offset, count in self._segments:
            by_part.setdefault(part, []).append((offset, count))
        if self._file is not None:
            self._file.flush()
        return by_part

    def _take(self, part: int, segments: list[tuple[int, int]]) -> array[int]:
        """Every value of partition ``part`` (its segments on disk, then its buffer)."""
        values = array("q")
        f = self._file
        for offset, count in segments:
            f.seek(offset)
            values.fromfile(f, count)
        buf = self.parts[part]
        values.extend(buf)
        del buf[:]
        return values

    def close(self) -> None:
        """Drop the hashes and remove the temporary file (safe to call twice)."""
        for buf in self.parts:
            del buf[:]
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            self._path = None

    def __enter__(self) -> HashSieve:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def repeated_across(sieves: Sequence[HashSieve]) -> set[int]:
    """The values added more than once to ``sieves`` taken together; each sieve made
    with ``distinct=True`` counts each of its values once. Queries every sieve (once).

    One partition at a time: memory holds one partition of every sieve.
    """
    plans = [sieve._start_query() for sieve in sieves]
    out: set[int] = set()
    for part in range(SIEVE_PARTS):
        values = array("q")
        for sieve, plan in zip(sieves, plans, strict=True):
            taken = sieve._take(part, plan.get(part, []))
            if sieve.distinct and len(sieves) > 1:
                values.extend(set(taken))
            elif not sieve.distinct:
                values.extend(taken)
            # A distinct sieve on its own repeats nothing.
        if len(set(values)) != len(values):
            out.update(v for v, n in Counter(values).items() if n > 1)
    return out


def duplicate_message(loc: Location, locs: Sequence[Location], *, csv: bool = False) -> str:
    """The error of a duplicate at ``loc`` (a JSON row, or with ``csv`` a line of a CSV
    label): it names the other occurrences of its key in ``locs`` (``loc`` among them),
    by line in the same file, else as ``file:line``."""
    others = list(locs)
    if loc in others:
        others.remove(loc)
    same = [str(o.line) for o in others if o.file == loc.file]
    parts = [("lines " if len(same) > 1 else "line ") + ", ".join(same)] if same else []
    parts.extend(str(o) for o in others if o.file != loc.file)
    where = ", ".join(parts)
    if loc in others:
        # The same file read twice (the CLI refuses that up front).
        where += f" (the file {loc.file} is given more than once)"
    if csv:
        keep = (
            "keep one label per sample and label set (a sample's CSV lines form one "
            "label only within one file)"
        )
    else:
        keep = "keep one row per sample and label set"
    return (
        f"same sample and label set as {where}; {keep}, "
        "or pass --on-duplicate last to keep the last one"
    )

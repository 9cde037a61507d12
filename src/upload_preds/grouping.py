"""Gather items by key with bounded memory: all CSV annotations of one (sample, label set).

A CSV file has one record per annotation, and the records of one sample may be
anywhere in it; the converter needs them together. :class:`Grouper` collects
``(key, location, payload)`` items and hands them back as groups, each group's
items in the order they were added (the input order).

How: every item is encoded as the line a spill writes when it is added (the
bytes are several times smaller than the dict: ``[key, file, line, payload]``
by ``orjson``, see :meth:`Grouper.push_line`) and kept in a list per hash
partition (by the top bits of the key's CRC-32) until their estimated size
passes ``max_memory_bytes``; then each list is appended to its partition's
file (:class:`PartitionedSpill`, 1,024 of them) and memory starts over.
``groups()`` parses one partition at a time (from memory when nothing was
spilled; a spilled one too big is split by the next bits of the CRC), groups
it with a dict and yields its keys.

:meth:`Grouper.add_compact` keeps a second, unparsed JSON text beside a payload
(a sequence row checked when it was read: its compact objects are the payload,
the raw row is needed only if its label fails). So every item is two lines:
the JSON array, then that text or nothing (no text holds a newline: JSON as
``orjson`` writes it has none, and the sequence rows' fast path keeps a line
as the reader read it). A partition's first lines are parsed in one
``orjson`` call, as one array; the second lines are kept as they are.

Groups come out in :func:`key_order` (CRC-32 of the key, then the key) on both
paths: an order that depends only on the set of keys, so a shuffled file gives
the same groups in the same order as a sorted one, and it is exactly the
order of the partitions, so no global sort or merge is needed.

Why partition files rather than SQLite (the first version): measured on 300k
shuffled CSV annotations, inserting into a temporary SQLite table and reading
it back with ``ORDER BY key, rowid`` took about 2.5 s on top of reading the
file; appending lines to partition files costs one ``bytes`` format per item,
and only one partition is ever parsed at a time, with no global sort.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zlib
from array import array
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, BinaryIO, Final

import orjson

from upload_preds.gcpolicy import paused_gc
from upload_preds.records import Location

__all__ = ["DEFAULT_GROUP_MEMORY_BYTES", "Grouper", "PartitionedSpill", "key_order"]

#: Default in-memory budget of a :class:`Grouper`, in estimated bytes. (5 MiB: a
#: sequence dry run's peak RSS grew 11% from 100k to 1M rows with 8 MiB, 9.5% with
#: 5, at the same CPU time; bench/bench_sequences.py.)
DEFAULT_GROUP_MEMORY_BYTES: Final = 5 * 1024 * 1024
# Estimated Python overhead of one buffered item: its two bytes objects' headers
# and a share of the list, beyond the head and raw bytes.
_ITEM_OVERHEAD: Final = 150
# A parsed payload dict takes several times its JSON size (about 8x for a CSV
# record of short strings): a partition is split further when its file is
# larger than this share of the budget.
_EXPANSION: Final = 4
# 1,024 partitions: a partition is parsed whole when it is read back, and that is the
# grouping's peak past its budget (a sequence dry run's peak RSS, 100k -> 1M rows:
# ratio 1.13 with 256 partitions, 1.10 with 512, 1.08 with 1,024). A flush is one run
# file whatever the partitions it touches, so more of them cost no more opens.
_PART_BITS: Final = 10
_MAX_DEPTH: Final = 3
_FILE_BUFFER: Final = 64 * 1024
# Run files of a spill before they are merged into partition files (its open files
# while it is read, and its index, are bounded by this).
_MAX_RUNS: Final = 64
_UINT_MAX: Final = 2**32 - 1


def key_order(key: str) -> tuple[int, str]:
    """The order groups come out in: by CRC-32 of the key, then by the key.

    It depends only on the keys, never on the input order or on where the
    items were kept, and it is the order of the hash partitions on disk.
    """
    return zlib.crc32(key.encode("utf-8", "surrogatepass")), key


def _partition(key: str, depth: int) -> int:
    crc = zlib.crc32(key.encode("utf-8", "surrogatepass"))
    return (crc >> (32 - _PART_BITS * (depth + 1))) & ((1 << _PART_BITS) - 1)


class PartitionedSpill:
    """Hash-partitioned append-only JSON lines in a private temporary directory.

    Each line is an orjson array whose first element is the key. A key's lines
    all land in one partition (the top bits of its CRC-32), in append order.
    :meth:`partitions` yields the lines of each partition in partition order,
    splitting one that is larger than ``max_bytes`` by the next bits of the
    CRC, so a caller that loads one partition at a time stays in budget.

    How: each :meth:`write` is one *run* file, its partitions one after the
    other, and an index says where each partition's piece of each run is (one
    ``array`` of ``run, offset, length`` per partition). A partition is its
    pieces of every run, in run order. Appending to each partition's file per
    write instead cost an open and a close of each (a million-row sequence dry
    run's system time: 0.56 s that way, 0.33 s with runs). After
    :data:`_MAX_RUNS` runs the runs are merged into one file per partition, so
    the open files and the index stay bounded however large the input.
    """

    def __init__(
        self, prefix: str, tmp_dir: str | None, max_bytes: int, *, pairs: bool = False
    ) -> None:
        self.directory = tempfile.mkdtemp(prefix=prefix, dir=tmp_dir)
        self._max_bytes = max_bytes
        # Items of two lines each (Grouper's): a partition split keeps them together.
        self._pairs = pairs
        self._runs = 0  # run files written since the last merge
        self._index: dict[int, array[int]] = {}

    def _path(self, depth: int, part: int, parent: str = "") -> str:
        return os.path.join(self.directory, f"{parent}{depth}-{part:03d}")

    def _run_path(self, run: int) -> str:
        return os.path.join(self.directory, f"run-{run}")

    def append(self, lines: Iterable[tuple[str, bytes]]) -> None:
        """Append ``(key, line)`` pairs; ``line`` ends with a newline."""
        parts: dict[int, list[bytes]] = {}
        # A key's partition, computed once per key of this batch (rows of one label
        # share a key: a CRC-32 per row was a tenth of a sequence dry run).
        chunks: dict[str, list[bytes]] = {}
        for key, line in lines:
            chunk = chunks.get(key)
            if chunk is None:
                part = _partition(key, 0)
                chunk = parts.get(part)
                if chunk is None:
                    chunk = parts[part] = []
                chunks[key] = chunk
            chunk.append(line)
        self.write(parts)

    def write(self, parts: dict[int, list[bytes]]) -> None:
        """Append lines already split by partition (the top bits of their key's CRC-32)."""
        run = self._runs
        index = self._index
        offset = 0
        with open(self._run_path(run), "wb") as f:
            for part, chunk in parts.items():
                data = b"".join(chunk)
                f.write(data)
                pieces = index.get(part)
                if pieces is None:
                    # 4 bytes a number (the index grows with the input: half the RSS
                    # growth of a million-row dry run was its 8-byte numbers); a run
                    # past 4 GiB (no budget makes one) widens them.
                    pieces = index[part] = array("I")
                end = offset + len(data)
                if end > _UINT_MAX and pieces.typecode == "I":
                    pieces = index[part] = array("q", pieces)
                pieces.extend((run, offset, len(data)))
                offset = end
        self._runs += 1
        if self._runs >= _MAX_RUNS:
            self._merge()

    def _merge(self) -> None:
        """Append every partition's pieces to its own file and drop the runs."""
        with self._opened_runs() as runs:
            for part in sorted(self._index):
                with open(self._path(0, part), "ab") as f:
                    f.write(self._pieces(runs, part))
        self._drop_runs()

    @contextlib.contextmanager
    def _opened_runs(self) -> Iterator[list[BinaryIO]]:
        with contextlib.ExitStack() as stack:
            # (Unbuffered: each piece is one seek and one read of its exact size.)
            yield [
                stack.enter_context(open(self._run_path(run), "rb", buffering=0))
                for run in range(self._runs)
            ]

    def _pieces(self, runs: list[BinaryIO], part: int) -> bytes:
        """A partition's pieces of every run, joined (b"" when it has none)."""
        pieces = self._index.get(part)
        if pieces is None:
            return b""
        out = []
        it = iter(pieces)
        for run, offset, length in zip(it, it, it, strict=True):
            f = runs[run]
            f.seek(offset)
            piece = f.read(length)
            if len(piece) != length:  # (a regular file reads whole; a cut file does not)
                raise OSError(f"spill file {f.name} is shorter than written")
            out.append(piece)
        return b"".join(out)

    def _drop_runs(self) -> None:
        for run in range(self._runs):
            os.unlink(self._run_path(run))
        self._runs = 0
        self._index = {}

    def partitions(self) -> Iterator[list[bytes]]:
        """The lines of each partition (without their newline), partitions in key order."""
        for blob in self.blobs():
            lines = blob.split(b"\n")
            del blob
            lines.pop()  # (after the last newline)
            yield lines

    def blobs(self) -> Iterator[bytes]:
        """The bytes of each partition, partitions in key order."""
        with self._opened_runs() as runs:
            for part in range(1 << _PART_BITS):
                path = self._path(0, part)
                held = [self._pieces(runs, part)]
                if os.path.exists(path) or len(held[0]) > self._max_bytes:
                    # Merged before, or too big: the file's way (split if too big).
                    with open(path, "ab") as f:
                        f.write(held.pop())
                    yield from self._load(path, 0)
                elif held[0]:
                    # (Popped as it is yielded: the consumer holds the only reference,
                    # and frees the bytes once it has split them.)
                    yield held.pop()
        self._drop_runs()

    def _load(self, path: str, depth: int) -> Iterator[bytes]:
        try:
            size = os.path.getsize(path)
        except FileNotFoundError:
            return
        if size > self._max_bytes and depth + 1 < _MAX_DEPTH:
            prefix = os.path.basename(path) + "."
            subs: dict[int, Any] = {}
            try:
                with open(path, "rb", buffering=_FILE_BUFFER) as f:
                    for line in f:
                        sub = _partition(orjson.loads(line)[0], depth + 1)
                        out = subs.get(sub)
                        if out is None:
                            out = subs[sub] = open(  # noqa: SIM115 (closed below)
                                self._path(depth + 1, sub, prefix), "wb", buffering=_FILE_BUFFER
                            )
                        out.write(line)
                        if self._pairs:  # the item's second line goes with it
                            out.write(next(f))
            finally:
                for out in subs.values():
                    out.close()
            os.unlink(path)
            for sub in sorted(subs):
                yield from self._load(self._path(depth + 1, sub, prefix), depth + 1)
            return
        with open(path, "rb") as f:
            held = [f.read()]
        os.unlink(path)
        # (Popped as it is yielded: the consumer holds the only reference, and frees
        # the bytes once it has split them.)
        yield held.pop()

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class Grouper:
    """Collect ``(key, location, payload)`` items; yield them grouped by key.

    ``max_memory_bytes`` bounds the estimated size of the items held in memory
    before they are spilled to hash-partitioned files under ``tmp_dir``
    (default: the system temporary directory). Payloads must be JSON-serialisable
    dicts; they come back as equal dicts. Use as a context manager, or call
    :meth:`close`, to remove the temporary files. ``groups()`` may be called once.
    """

    def __init__(
        self, max_memory_bytes: int = DEFAULT_GROUP_MEMORY_BYTES, *, tmp_dir: str | None = None
    ) -> None:
        self._limit = max_memory_bytes
        self._tmp_dir = tmp_dir
        # The lines held in memory by partition (as a spill writes them), and each
        # key's partition list for this batch (a CRC-32 per line was a tenth of a
        # sequence dry run).
        self._parts: dict[int, list[bytes]] = {}
        self._chunks: dict[str, list[bytes]] = {}
        self._prefixes: dict[tuple[str, int], bytes] = {}
        self._mem = 0
        self._files: dict[str, int] = {}
        self._names: list[str] = []
        self._spill: PartitionedSpill | None = None
        self._done = False

    @property
    def spilled(self) -> bool:
        """Whether items were written to disk (the memory budget was exceeded)."""
        return self._spill is not None

    @property
    def temp_dir(self) -> str | None:
        """The directory of the spill files while it exists."""
        return self._spill.directory if self._spill is not None else None

    def add(self, key: str, loc: Location, payload: dict[str, Any]) -> None:
        """Add one item to the group ``key``."""
        # (orjson.dumps returns bytes that keep its ~4 KiB working buffer; the
        # line is formatted from them at once, an exact-size copy.)
        self._push(key, self.file_id(loc.file), loc.line, orjson.dumps(payload), b"\n")

    def add_compact(self, key: str, loc: Location, objects: list[Any], row: Any) -> None:
        """Add ``{"q": objects}`` to the group ``key``, with ``row``'s JSON kept beside
        it unparsed: it comes back as the payload's ``"j"`` (bytes), for the caller to
        parse only if it needs it (sequence rows checked when read, seqgroups.py)."""
        blob = b'{"q":%b}' % orjson.dumps(objects)
        self._push(key, self.file_id(loc.file), loc.line, blob, b"%b\n" % orjson.dumps(row))

    def file_id(self, name: str) -> int:
        """The number a spilled line names the file ``name`` by (see :meth:`prefix`)."""
        fid = self._files.get(name)
        if fid is None:
            fid = self._files[name] = len(self._names)
            self._names.append(name)
        return fid

    def prefix(self, key: str, fid: int) -> bytes:
        """The start of the lines of group ``key`` from file ``fid`` (:meth:`file_id`),
        for :meth:`push_line`: ``b'[KEY JSON,FID,'``."""
        return b"[%b,%d," % (orjson.dumps(key), fid)

    def push_line(self, key: str, head: bytes, raw: bytes = b"\n") -> None:
        """Add an item encoded by the caller: its ``head`` is :meth:`prefix`, then the
        line number, a comma, the payload's JSON, ``]`` and a newline; ``raw`` is its
        second line: a raw JSON text (see :meth:`add_compact`) and a newline, or only
        the newline. (Two pieces: a line read from the input is kept, not copied.)"""
        chunk = self._chunks.get(key)
        if chunk is None:
            if self._done:
                raise RuntimeError("Grouper.add() after groups()")
            part = _partition(key, 0)
            chunk = self._parts.get(part)
            if chunk is None:
                chunk = self._parts[part] = []
            self._chunks[key] = chunk
        chunk += (head, raw)
        self._mem += len(head) + len(raw) + _ITEM_OVERHEAD
        if self._mem > self._limit:
            self._flush()

    def _push(self, key: str, fid: int, line: int, blob: bytes, tail: bytes) -> None:
        prefix = self._prefixes.get((key, fid))
        if prefix is None:
            # Each (key, file)'s start once per batch (rows of one label share it).
            prefix = self._prefixes[key, fid] = self.prefix(key, fid)
        self.push_line(key, b"%b%d,%b]\n" % (prefix, line, blob), tail)

    def _flush(self) -> None:
        if self._spill is None:
            self._spill = PartitionedSpill(
                "upload-preds-group-", self._tmp_dir, self._limit // _EXPANSION, pairs=True
            )
        self._spill.write(self._parts)
        self._parts = {}
        self._chunks.clear()
        self._prefixes.clear()
        self._mem = 0

    def groups(self) -> Iterator[tuple[str, list[tuple[Location, dict[str, Any]]]]]:
        """Yield ``(key, [(location, payload), ...])`` per key, in :func:`key_order`.

        Each group's items are in the order they were added.
        """
        if self._done:
            raise RuntimeError("Grouper.groups() can be called once")
        self._done = True
        self._chunks.clear()
        if self._spill is None:
            # Nothing spilled: the partitions in memory (pieces ending with a newline,
            # as a spill writes them).
            held = self._parts
            self._parts = {}
            partitions: Iterator[list[bytes]] = (held.pop(p) for p in sorted(held))
        else:
            if self._parts:
                self._flush()
            partitions = self._spill.partitions()
        for lines in partitions:
            # A partition's parsed items all stay alive and hold no cycles: the
            # collector would walk them again and again (see gcpolicy).
            with paused_gc():
                groups = self._parse(lines)
            del lines
            for key in sorted(groups, key=key_order):
                yield key, groups.pop(key)

    def _parse(self, lines: list[bytes]) -> dict[str, list[tuple[Location, dict[str, Any]]]]:
        """A partition's items by key, in the order they were added, from its lines
        (with or without their newline; the list is emptied of its heads)."""
        names = self._names
        new = tuple.__new__
        # Every item's first lines in one orjson call, as one array (a call per line
        # and its slices were a quarter of a sequence dry run's time).
        joined = b"[%b]" % b",".join(lines[0::2])
        # Each piece is freed as soon as it is not needed (a partition's peak memory
        # is the peak of a large run): the heads once joined, the text once parsed.
        del lines[0::2]
        heads = orjson.loads(joined)
        del joined
        # Popped from the end as they are grouped, so each item's list, key and
        # numbers are freed at once and the partition is never held twice.
        heads.reverse()
        lines.reverse()
        pop_head = heads.pop
        pop_raw = lines.pop
        groups: dict[str, list[tuple[Location, dict[str, Any]]]] = {}
        for _ in range(len(heads)):
            key, f, line, payload = pop_head()
            raw = pop_raw()
            if len(raw) > 1:  # (a raw row is 2 bytes at least; b"" or b"\n" is none)
                payload["j"] = raw
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
            # (Location(...) without the Python-level NamedTuple constructor.)
            group.append((new(Location, (names[f], line)), payload))
        return groups

    def close(self) -> None:
        """Drop the items and remove the temporary files (safe to call twice)."""
        self._parts = {}
        self._chunks.clear()
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def __enter__(self) -> Grouper:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

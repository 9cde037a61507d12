"""Point clouds for the review page: read PCD and KITTI files, send x/y compactly.

The review page draws point clouds top-down, so it needs x and y of each
point and nothing else. Rather than have the page fetch and parse the raw
file, the sandbox reads it once (:func:`read_xy`, cached by path, size and
modification time) and serves :func:`compact`: a 12-byte header (little-endian
uint32 total points, stride, points sent) then float32 ``x, y`` pairs of every
``stride``-th point, ``stride = ceil(total / max_points)`` so at most
:data:`MAX_POINTS` reach a panel. Point ``k`` sent is point ``k * stride`` of
the file, so the page colours it from ``point_annotations[k * stride]``.
Measured (``bench/bench_review_points.py``): see the README's benchmark table;
a compact body is 8 bytes per point sent against 16 (binary) or ~30 (ASCII)
per point of the file, and the page does no parsing.

Formats: PCD v0.7 with ``DATA ascii`` or ``DATA binary`` (any fields, any
sizes, as long as there are ``x`` and ``y``; ``binary_compressed`` is refused
with a message) and KITTI ``.bin`` sweeps (float32 ``x y z intensity``).
:func:`point_count` reads only a PCD's header (``POINTS``, else ``WIDTH`` times
``HEIGHT``), or a ``.bin`` file's size, for the manifest's point counts.
"""

from __future__ import annotations

import functools
import math
import struct
from array import array
from pathlib import Path

MAX_POINTS = 200_000
#: The header of :func:`compact`'s answer.
HEADER = struct.Struct("<3I")
KITTI_RECORD = 16  # float32 x, y, z, intensity
_TYPES = {
    ("F", 4): "f",
    ("F", 8): "d",
    ("I", 1): "b",
    ("I", 2): "h",
    ("I", 4): "i",
    ("I", 8): "q",
    ("U", 1): "B",
    ("U", 2): "H",
    ("U", 4): "I",
    ("U", 8): "Q",
}
_MAX_HEADER = 64 * 1024
#: Bytes of an ASCII body parsed at a time (about 2,500 points; see :func:`_ascii_xy`).
ASCII_CHUNK = 64 * 1024


class PointCloudError(ValueError):
    """The file is not a point cloud this module reads; the message says why."""


def _header(data: bytes, name: str) -> tuple[dict[str, list[str]], int]:
    """The PCD header's fields (keyword → values) and where the data starts."""
    fields: dict[str, list[str]] = {}
    pos = 0
    while pos < min(len(data), _MAX_HEADER):
        end = data.find(b"\n", pos)
        if end < 0:
            break
        line = data[pos:end].decode("ascii", "replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        fields[key.upper()] = values
        if key.upper() == "DATA":
            return fields, pos
    raise PointCloudError(f"{name}: not a PCD file (no DATA line in its header)")


def _count(fields: dict[str, list[str]], name: str) -> int:
    try:
        if "POINTS" in fields:
            return int(fields["POINTS"][0])
        return int(fields["WIDTH"][0]) * int(fields["HEIGHT"][0])
    except (KeyError, IndexError, ValueError):
        raise PointCloudError(
            f"{name}: the PCD header has no POINTS (or WIDTH and HEIGHT)"
        ) from None


def point_count(path: Path) -> int:
    """The number of points of a ``.pcd`` (from its header) or KITTI ``.bin`` file."""
    if path.suffix.lower() == ".bin":
        size = path.stat().st_size
        if size % KITTI_RECORD:
            raise PointCloudError(f"{path.name}: {size} bytes is not a whole number of points")
        return size // KITTI_RECORD
    with path.open("rb") as f:
        head = f.read(_MAX_HEADER)
    return _count(_header(head, path.name)[0], path.name)


def parse_pcd(data: bytes, name: str = "cloud.pcd") -> array[float]:
    """``x, y`` of every point of a PCD file, interleaved, as float32."""
    fields, start = _header(data, name)
    names = fields.get("FIELDS", [])
    if "x" not in names or "y" not in names:
        raise PointCloudError(f"{name}: the PCD has no x and y fields ({' '.join(names)})")
    n = len(names)
    sizes = [int(s) for s in fields.get("SIZE", ["4"] * n)]
    types = [t.upper() for t in fields.get("TYPE", ["F"] * n)]
    counts = [int(c) for c in fields.get("COUNT", ["1"] * n)]
    if not len(sizes) == len(types) == len(counts) == n:
        raise PointCloudError(f"{name}: FIELDS, SIZE, TYPE and COUNT differ in length")
    # Column of x and y in a record: fields before them may have COUNT > 1.
    col = {f: sum(counts[:i]) for i, f in enumerate(names)}
    total = _count(fields, name)
    kind = fields["DATA"][0].lower() if fields["DATA"] else ""
    if kind == "ascii":
        return _ascii_xy(data, start, sum(counts), col["x"], col["y"], total, name)
    if kind != "binary":
        raise PointCloudError(f"{name}: DATA {kind or '?'} is not read here (ascii or binary)")
    try:
        fmt = "<" + "".join(
            _TYPES[(t, s)] * c for t, s, c in zip(types, sizes, counts, strict=True)
        )
    except KeyError:
        raise PointCloudError(f"{name}: a TYPE/SIZE pair this reader does not know") from None
    record = struct.Struct(fmt)
    body = data[start : start + record.size * total]
    if len(body) != record.size * total:
        raise PointCloudError(f"{name}: {len(body)} data bytes for {total} points")
    cx, cy = col["x"], col["y"]
    out = array("f")
    for rec in record.iter_unpack(body):
        out.append(rec[cx])
        out.append(rec[cy])
    return out


def _ascii_xy(
    data: bytes, start: int, width: int, cx: int, cy: int, total: int, name: str
) -> array[float]:
    """x, y of an ASCII PCD body, read :data:`ASCII_CHUNK` bytes at a time.

    Each chunk ends at a newline (whitespace, so no value is cut); its values
    are split and the strided slices of whole records converted at C speed, and
    the values of a record cut by the chunk's end carry over to the next one.
    Why chunks: ``bytes.split`` and ``array(map(float, ...))`` hold the GIL for as
    long as they run, so over a whole 120k-point body they would stall the
    sandbox's event loop for tens of milliseconds even from a worker thread; a
    chunk takes well under a millisecond, and between chunks the thread runs
    bytecode, where the interpreter hands the GIL to the loop when it asks.
    """
    xs, ys = array("f"), array("f")
    carry: list[bytes] = []
    values = 0
    end = len(data)
    pos = start
    try:
        while pos < end:
            cut = data.find(b"\n", min(pos + ASCII_CHUNK, end))
            cut = end if cut < 0 else cut + 1
            tokens = data[pos:cut].split()
            pos = cut
            values += len(tokens)
            if carry:
                tokens = carry + tokens
            whole = len(tokens) - len(tokens) % width
            carry = tokens[whole:]
            xs.extend(map(float, tokens[cx:whole:width]))
            ys.extend(map(float, tokens[cy:whole:width]))
    except ValueError as e:
        raise PointCloudError(f"{name}: a value that is not a number ({e})") from None
    if values != width * total:
        raise PointCloudError(f"{name}: {values} values for POINTS {total} of {width} columns")
    out = array("f", bytes(8 * total))
    out[0::2] = xs
    out[1::2] = ys
    return out


def parse_kitti(data: bytes, name: str = "cloud.bin") -> array[float]:
    """``x, y`` of every point of a KITTI sweep (float32 x, y, z, intensity records)."""
    if len(data) % KITTI_RECORD:
        raise PointCloudError(f"{name}: {len(data)} bytes is not a whole number of points")
    every = array("f")
    every.frombytes(data)
    if every.itemsize != 4:  # pragma: no cover - array('f') is float32 on every platform
        raise PointCloudError("float32 arrays are needed")
    out = array("f", bytes(len(every) // 2 * 4))
    out[0::2] = every[0::4]
    out[1::2] = every[1::4]
    return out


@functools.lru_cache(maxsize=16)
def _compact_cached(path: str, size: int, mtime_ns: int, max_points: int) -> bytes:
    p = Path(path)
    data = p.read_bytes()
    xy = parse_kitti(data, p.name) if p.suffix.lower() == ".bin" else parse_pcd(data, p.name)
    return compact(xy, max_points)


def compact(xy: array[float], max_points: int = MAX_POINTS) -> bytes:
    """The review page's body for ``xy`` (see the module docstring)."""
    total = len(xy) // 2
    stride = max(1, math.ceil(total / max_points)) if max_points else 1
    if stride == 1:
        kept = xy
    else:
        xs, ys = xy[0 :: 2 * stride], xy[1 :: 2 * stride]
        kept = array("f", bytes(8 * len(xs)))
        kept[0::2] = xs
        kept[1::2] = ys
    return HEADER.pack(total, stride, len(kept) // 2) + kept.tobytes()


def compact_file(path: Path, max_points: int = MAX_POINTS) -> bytes:
    """:func:`compact` of a file, cached while the file is unchanged."""
    st = path.stat()
    return _compact_cached(str(path), st.st_size, st.st_mtime_ns, max_points)

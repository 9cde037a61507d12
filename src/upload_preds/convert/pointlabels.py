"""Per-point label files → their distinct labels and one group index per point.

A point-cloud segmentation model writes one integer per point. Three file
formats are read, chosen by the file's extension:

* ``.label`` / ``.bin``: raw little-endian ``uint32``, one per point (the
  SemanticKITTI layout); a size that is not a multiple of 4 bytes is refused.
* ``.npy``: a NumPy array file holding a 1-D integer array (read with
  ``allow_pickle=False``: a label file never runs code).
* ``.txt``: one integer per line.

What the integers mean is the *kind* (``--point-labels-kind``): ``class``
(model class ids), ``instance`` (annotation ids, the row lists their
categories) or ``semantickitti`` (lower 16 bits the class, upper 16 bits the
instance). :func:`distinct` finds the distinct labels of a file in a few
vectorised passes: a 65,536-slot ``bincount`` of the class half (no sort),
and a sort (``numpy.unique``) only of the points that carry an instance,
which are few in a LiDAR scan (cars and people, not road and buildings).
:meth:`Distinct.point_ids` then writes every point's final id with one table
look-up per point, as a plain list for the label JSON.

Measured on a 120,000-point scan (bench/bench_pcseg.py), against
``numpy.fromfile`` + ``orjson.dumps`` of the finished label: pure Python
(``array``, ``struct`` or ``memoryview`` with a dict look-up per point) about
10-14x, ``numpy.unique`` over all points 25-30x (it sorts them), this way
2.6-2.7x; hence numpy as a runtime dependency.

Every problem is a :class:`PointLabelsError` whose message names the file; the
converter turns it into the row's error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from upload_preds import masks

#: What the integers of a file mean (``--point-labels-kind``).
KINDS = ("class", "instance", "semantickitti")
#: File formats by extension.
RAW_EXTENSIONS = (".label", ".bin")
NPY_EXTENSIONS = (".npy",)
TEXT_EXTENSIONS = (".txt",)
#: The largest file read: 50 million points (a 200 MB ``.label`` file), many
#: times a 128-beam LiDAR sweep; a bigger file is an error, not an out-of-memory.
MAX_POINTS = 50_000_000
#: Ids of the ``class`` and ``instance`` kinds are stored as JSON integers the
#: platform keeps in 32 bits.
MAX_ID = 2**31 - 1
_SLOTS = 1 << 16

Ids = npt.NDArray[np.int64]


class PointLabelsError(ValueError):
    """A point label file that cannot be used; the message names the file."""


def default_kind(path: str, has_annotations: bool) -> str:
    """The kind of a file when ``--point-labels-kind`` is not given: ``.label`` files
    are SemanticKITTI; others hold instance ids when the row lists annotations, else
    class ids."""
    if path.lower().endswith(".label"):
        return "semantickitti"
    return "instance" if has_annotations else "class"


def read_values(input_file: str, path: str) -> npt.NDArray[Any]:
    """The integers of ``path`` (relative to the rows file's folder): ``uint32`` for raw
    files, ``int64`` otherwise; one per point."""
    lower = path.lower()
    if not lower.endswith(RAW_EXTENSIONS + NPY_EXTENSIONS + TEXT_EXTENSIONS):
        raise PointLabelsError(
            f"{path}: unknown file type; point labels are .label or .bin (uint32 per point), "
            ".npy (a 1-D integer array) or .txt (one integer per line)"
        )
    try:
        fh = masks.open_mask_file(input_file, path, what="point label files")
    except masks.MaskError as exc:
        raise PointLabelsError(str(exc)) from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if lower.endswith(RAW_EXTENSIONS):
            return _raw(fh, path, size)
        if size > MAX_POINTS * 8 + 4096:
            raise PointLabelsError(f"{path}: {size:,} bytes is more than {MAX_POINTS:,} points")
        if lower.endswith(NPY_EXTENSIONS):
            return _npy(fh, path)
        return _text(fh, path)


def _raw(fh: IO[bytes], path: str, size: int) -> npt.NDArray[np.uint32]:
    if size % 4:
        raise PointLabelsError(
            f"{path}: {size:,} bytes is not a multiple of 4; a .label file holds one "
            "little-endian uint32 per point (is it cut short, or another format?)"
        )
    if size > MAX_POINTS * 4:
        raise PointLabelsError(f"{path}: {size // 4:,} points is more than {MAX_POINTS:,}")
    data = fh.read()
    if len(data) != size:  # the file changed while it was read
        raise PointLabelsError(f"{path}: read {len(data):,} bytes of {size:,}")
    # '<u4' whatever the machine's byte order; astype makes it native for the passes.
    return np.frombuffer(data, dtype="<u4").astype(np.uint32, copy=False)


def _npy(fh: IO[bytes], path: str) -> Ids:
    try:
        arr = np.load(fh, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise PointLabelsError(f"{path}: not a readable .npy array file ({exc})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        raise PointLabelsError(f"{path}: holds several arrays; give one 1-D .npy array")
    if arr.ndim != 1:
        raise PointLabelsError(
            f"{path}: an array of shape {arr.shape}; give a 1-D array with one id per point"
        )
    if arr.dtype.kind not in "iu":
        raise PointLabelsError(
            f"{path}: an array of {arr.dtype}; give integer ids (int32, uint32, int64...)"
        )
    if arr.size > MAX_POINTS:
        raise PointLabelsError(f"{path}: {arr.size:,} points is more than {MAX_POINTS:,}")
    if arr.size and arr.dtype.kind == "u" and int(arr.max()) > MAX_ID:
        raise PointLabelsError(f"{path}: id {int(arr.max())} is larger than {MAX_ID}")
    return arr.astype(np.int64, copy=False)


def _text(fh: IO[bytes], path: str) -> Ids:
    try:
        text = fh.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PointLabelsError(f"{path}: not a text file (not UTF-8)") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    try:
        values = [int(s) for s in lines]
    except ValueError:
        for lineno, s in enumerate(lines, start=1):
            if not s.strip().lstrip("+-").isdigit():
                raise PointLabelsError(
                    f"{path}:{lineno}: {s.strip()[:30]!r} is not an integer; a .txt file "
                    "holds one integer id per line"
                ) from None
        raise
    if len(values) > MAX_POINTS:
        raise PointLabelsError(f"{path}: {len(values):,} points is more than {MAX_POINTS:,}")
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        raise PointLabelsError(f"{path}: an id does not fit in 64 bits") from None


@dataclass(frozen=True, slots=True)
class Group:
    """One distinct label of a file: its class (or id) and instance, and how many points."""

    cls: int
    instance: int
    points: int


@dataclass(slots=True)
class Distinct:
    """A file's distinct labels, in :attr:`groups`, and each point's group."""

    #: Number of points.
    n: int
    groups: list[Group]
    #: Per point: the index of its group, through the table ``_slot`` (the
    #: group of slot ``k`` is ``groups[_slot[k]]``; slots without points are -1).
    _group: npt.NDArray[np.intp]
    _slot: npt.NDArray[np.intp]

    def point_ids(self, group_ids: list[int]) -> list[int]:
        """Every point's id, from one id per group (0: unlabeled), as a list."""
        biggest = max(group_ids, default=0)
        # Ids up to 255 (nearly every scan) go out as bytes: list(bytes) makes the
        # list of ints in about half the time ndarray.tolist() takes.
        dtype = np.uint8 if biggest < 256 else np.int64
        ids = np.asarray(group_ids, dtype=dtype)
        table = np.zeros(self._slot.size, dtype=dtype)
        used = self._slot >= 0
        table[used] = ids[self._slot[used]]
        per_point = table.take(self._group)
        if dtype is np.uint8:
            return list(per_point.tobytes())
        out: list[int] = per_point.tolist()
        return out


def distinct(values: npt.NDArray[Any], *, split: bool) -> Distinct:
    """The distinct labels of a file's values; ``split``: SemanticKITTI's class/instance
    halves. Raises :class:`PointLabelsError` for negative ids or ids over :data:`MAX_ID`
    (class and instance kinds).

    No sort of all points: each half's values present are found with a
    ``bincount``, ranked, and a point's slot is
    ``instance rank * classes + class rank``; a last ``bincount`` over those few
    slots finds the (class, instance) pairs present. Ids too large for a table
    (class and instance kinds only) take ``numpy.unique``.
    """
    n = int(values.size)
    if not split and n:
        low, high = int(values.min()), int(values.max())
        if low < 0:
            raise PointLabelsError(f"ids must not be negative; found {low}")
        if high > MAX_ID:
            raise PointLabelsError(f"id {high} is larger than {MAX_ID}")
        if high >= _SLOTS:
            uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
            groups = [Group(v, 0, k) for v, k in zip(uniq.tolist(), counts.tolist(), strict=True)]
            slot = np.arange(uniq.size, dtype=np.intp)
            return Distinct(n, groups, inverse.astype(np.intp, copy=False), slot)
    # As intp once: take() and bincount() would each convert other index types, and
    # take() over uint32 indices costs ten times what it costs over intp (measured).
    lo = ((values & 0xFFFF) if split else values).astype(np.intp)
    classes, class_rank = _ranks(lo)
    slot_of_point = class_rank.take(lo)
    instances = np.zeros(1, dtype=np.intp)
    if split:
        hi = (values >> 16).astype(np.intp)
        if hi.any():
            instances, inst_rank = _ranks(hi)
            slot_of_point += inst_rank.take(hi) * classes.size
    counts = np.bincount(slot_of_point, minlength=classes.size * instances.size)
    present = np.flatnonzero(counts)
    slot = np.full(counts.size, -1, dtype=np.intp)
    slot[present] = np.arange(present.size, dtype=np.intp)
    nc = int(classes.size)
    groups = [
        Group(int(classes[k % nc]), int(instances[k // nc]), int(counts[k]))
        for k in present.tolist()
    ]
    return Distinct(n, groups, slot_of_point, slot)


def _ranks(half: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The values present in ``half`` (all below 65,536), sorted, and a table value → its
    rank among them (as long as the largest value: class and instance ids are small
    numbers in practice, so the tables are too)."""
    present = np.flatnonzero(np.bincount(half))
    rank = np.zeros(int(present[-1]) + 1 if present.size else 1, dtype=np.intp)
    rank[present] = np.arange(present.size, dtype=np.intp)
    return present, rank

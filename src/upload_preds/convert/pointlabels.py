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

Measured on a 120,000-point scan (bench/bench_pcseg.py): pure Python (``array``,
``struct`` or ``memoryview`` with a dict per point) costs about 14x of
``numpy.fromfile`` + ``orjson.dumps`` of the label, ``numpy.unique`` over all
points about 30x (it sorts), this way about 2-3x; hence numpy as a runtime
dependency.

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
    """A file's distinct labels, in :attr:`groups`, and where each point's is."""

    #: Number of points.
    n: int
    groups: list[Group]
    #: Class-indexed table positions: the first ``len(_classes)`` groups are the
    #: instance-0 labels of these classes (values < 65,536), looked up by value.
    _classes: npt.NDArray[np.intp]
    #: Per point: the value used to look the class groups up.
    _lo: npt.NDArray[Any]
    #: Points that carry an instance (semantickitti) or whose values are too large
    #: for the table, and the group (after the class groups) each belongs to.
    _rest: npt.NDArray[np.intp] | None
    _rest_group: npt.NDArray[np.intp] | None

    def point_ids(self, group_ids: list[int]) -> list[int]:
        """Every point's id, from one id per group (0: unlabeled), as a list."""
        nc = len(self._classes)
        table = np.zeros(_SLOTS, dtype=np.int64)
        table[self._classes] = group_ids[:nc]
        out = table.take(self._lo) if nc else np.zeros(self.n, dtype=np.int64)
        if self._rest is not None and self._rest_group is not None:
            rest_ids = np.asarray(group_ids[nc:], dtype=np.int64)
            out[self._rest] = rest_ids.take(self._rest_group)
        ids: list[int] = out.tolist()
        return ids


def distinct(values: npt.NDArray[Any], *, split: bool) -> Distinct:
    """The distinct labels of a file's values; ``split``: SemanticKITTI's class/instance
    halves. Raises :class:`PointLabelsError` for negative ids or ids over :data:`MAX_ID`
    (class and instance kinds)."""
    n = int(values.size)
    if split:
        lo = values & 0xFFFF
        hi = values >> 16
        rest = np.flatnonzero(hi)
    else:
        if n and int(values.min()) < 0:
            raise PointLabelsError(f"ids must not be negative; found {int(values.min())}")
        if n and int(values.max()) > MAX_ID:
            raise PointLabelsError(f"id {int(values.max())} is larger than {MAX_ID}")
        if n and int(values.max()) >= _SLOTS:
            # Ids beyond the table: every point goes through the sorted way.
            lo = np.zeros(0, dtype=np.int64)
            rest = np.arange(n, dtype=np.intp)
        else:
            lo = values
            rest = np.zeros(0, dtype=np.intp)
    counts = np.bincount(lo, minlength=_SLOTS) if lo.size else np.zeros(_SLOTS, np.int64)
    if rest.size and lo.size:
        # Points with an instance are not their class's instance-0 group.
        counts -= np.bincount(lo.take(rest), minlength=_SLOTS)
    classes = np.flatnonzero(counts)
    groups = [Group(int(c), 0, int(counts[c])) for c in classes.tolist()]
    if not rest.size:
        return Distinct(n, groups, classes, lo, None, None)
    sub = values.take(rest)
    uniq, inverse, ucounts = np.unique(sub, return_inverse=True, return_counts=True)
    for v, k in zip(uniq.tolist(), ucounts.tolist(), strict=True):
        groups.append(Group(v & 0xFFFF, v >> 16, k) if split else Group(v, 0, k))
    return Distinct(n, groups, classes, lo, rest, inverse.astype(np.intp, copy=False))

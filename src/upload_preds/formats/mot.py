"""MOTChallenge tracking files: one comma-separated ``.txt`` per sequence, one box per line.

::

    results/MOT17-02-FRCNN.txt   1,3,794.2,47.5,71.2,174.8,0.92,-1,-1,-1
                                 frame,id,bb_left,bb_top,bb_width,bb_height,conf,x,y,z
    MOT17-02/gt/gt.txt           1,1,912,484,97,109,0,7,1
                                 frame,id,bb_left,bb_top,bb_width,bb_height,conf,class,visibility

The layout is told by the number of values on a line (:data:`LAYOUTS`):

* 10, tracker output (and MOT15 ground truth, MOT17 ``det.txt``): no class;
  ``x,y,z`` are the ``-1`` fillers of 2-D tracking and are not read.
* 9, the MOT16/17/20 ground truth: ``class`` (1 pedestrian ... 13 crowd,
  :data:`MOT_CLASSES`) and ``visibility``; the 7th value is the "consider"
  flag there (0 or 1), and is taken as the score all the same.
* 7 and 6, what some trackers write: the 10 without the fillers, and without
  ``conf``.

Every line of a file must have the file's count (its first line's); values
are numbers, frames and ids whole. Frames are 1-based in MOTChallenge and
0-based in a Segments sequence label, so ``frame`` becomes ``frame - 1``; the
box ``bb_left, bb_top, bb_width, bb_height`` becomes the ``xyxy`` pixels of
the shorthand's ``bbox``; ``id`` becomes ``track_id``; ``conf`` becomes the
annotation's ``score`` (``-1``, MOTChallenge's filler, means none) so that
``--min-score`` drops and counts low ones as it does for COCO.

Untracked detections: ``-1`` is the id of a detection no tracker has linked
(what ``det/det.txt`` files hold), and a sequence label needs tracks, so
``--untracked`` says what becomes of it: ``error`` (the default) makes it a
line error; ``skip`` drops it and counts its line as skipped ("untracked
detection"), like an unmapped category; ``new-track`` gives each such detection
a track of its own. Those ids are handed out after the file is read, in line
order, from one past the highest id of any of the file's lines, so they collide
with no id of the sequence (nor with each other) and a rerun gives the same ones.

Which sequence a file is (the key ``--match`` compares with sample names): its
stem (``MOT17-02-FRCNN.txt`` → ``MOT17-02-FRCNN``), or, for the devkit layouts
``SEQ/gt/gt.txt`` and ``SEQ/det/det.txt`` (any file in a ``gt`` or ``det``
folder), the folder ``SEQ``. A folder given as input is walked for ``*.txt``.

Category: a file without a class column takes ``--mot-category NAME`` (its
absence is a usage error before anything is read, when any file needs it); a
class column's value is looked up through ``--category-map`` by the number
itself (``"3": "car"``) when the map names it, else by its MOTChallenge name
(``car``), which the map may rename in turn, and then among the dataset's
categories (:class:`~upload_preds.catmap.CategoryResolver`).

One file makes one :class:`~upload_preds.formats.FormatRow` (one sequence
label). A bad line is a :class:`~upload_preds.records.RowError` naming
``file:line`` and the column; it fails its sequence's label only, with every
line of that label written to the failures folder (:func:`failures_relpath`
keeps the sequence's name there), and the other files upload.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from math import isfinite
from pathlib import Path
from typing import Any, Final

from upload_preds.catmap import CategoryResolver, Resolved
from upload_preds.errors import InputFileError, UsageError
from upload_preds.formats import FormatOptions, FormatRow, Untracked, txt_files
from upload_preds.records import Location, Notice, RowError

__all__ = [
    "LAYOUTS",
    "MOT_CLASSES",
    "MotSource",
    "failures_relpath",
    "mot_columns",
    "open_mot",
    "yolo_like",
]

R_MOT = "invalid MOT line"
R_CLASS = "unknown MOT class"
#: The skip reason of a detection with id -1 under ``--untracked skip``.
SKIP_UNTRACKED = "untracked detection"
#: The id MOTChallenge gives a detection without a track.
UNTRACKED_ID: Final = -1

#: Column names by the number of values on a line.
LAYOUTS: Final[dict[int, tuple[str, ...]]] = {
    10: ("frame", "id", "bb_left", "bb_top", "bb_width", "bb_height", "conf", "x", "y", "z"),
    9: ("frame", "id", "bb_left", "bb_top", "bb_width", "bb_height", "conf", "class", "visibility"),
    7: ("frame", "id", "bb_left", "bb_top", "bb_width", "bb_height", "conf"),
    6: ("frame", "id", "bb_left", "bb_top", "bb_width", "bb_height"),
}
_LAYOUT_TEXT: Final = "; ".join(f"{n}: {','.join(cols)}" for n, cols in LAYOUTS.items())

#: The class ids of the MOT16/17/20 ground truth, by the names the devkits give them.
MOT_CLASSES: Final[dict[int, str]] = {
    1: "pedestrian",
    2: "person_on_vehicle",
    3: "car",
    4: "bicycle",
    5: "motorbike",
    6: "non_mot_vehicle",
    7: "static_person",
    8: "distractor",
    9: "occluder",
    10: "occluder_on_ground",
    11: "occluder_full",
    12: "reflection",
    13: "crowd",
}
#: The shorthand's annotation fields by the MOT columns they come from (for errors).
MOT_COLUMNS: Final[dict[str, str]] = {
    "frame": "frame",
    "track_id": "id",
    "bbox": "bb_left,bb_top,bb_width,bb_height",
    "score": "conf",
    "category_id": "class",
}
#: Folders whose txt files are named after their role, not their sequence.
_ROLE_DIRS: Final = frozenset({"gt", "det"})

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_MOT_LINE = re.compile(rf"^\s*{_NUM}\s*(?:,\s*{_NUM}\s*){{5,9}},?\s*$")
_YOLO_LINE = re.compile(rf"^\s*\d+(?:[ \t]+{_NUM}){{4,}}\s*$")


def mot_columns(line: str) -> int | None:
    """The layout's value count when ``line`` is a MOTChallenge line, else None."""
    if not _MOT_LINE.match(line):
        return None
    n = len(line.rstrip().rstrip(",").split(","))
    return n if n in LAYOUTS else None


def yolo_like(line: str) -> bool:
    """Whether ``line`` reads as a YOLO label line (``class cx cy w h ...``, spaces)."""
    return "," not in line and bool(_YOLO_LINE.match(line))


def sequence_key(path: str) -> str:
    """The sequence a file holds: its stem, or ``SEQ`` for ``SEQ/gt/gt.txt``."""
    p = Path(path)
    if p.parent.name in _ROLE_DIRS and p.parent.parent.name:
        return p.parent.parent.name
    return p.stem


def failures_relpath(path: str) -> str:
    """Where a file given by name goes in a failures folder: keeps what names its sequence
    (``SEQ/gt/gt.txt`` stays so, ``results/SEQ.txt`` becomes ``SEQ.txt``)."""
    p = Path(path)
    if p.parent.name in _ROLE_DIRS and p.parent.parent.name:
        return Path(p.parent.parent.name, p.parent.name, p.name).as_posix()
    return p.name


#: What is wrong with a line: (the column, or None for the whole line; the message).
_Problem = tuple[str | None, str]


def open_mot(paths: list[str], options: FormatOptions) -> MotSource:
    """The txt files of ``paths`` (folders walked); usage errors before anything is read."""
    if options.coco_gt is not None or options.yolo_names is not None or options.images is not None:
        raise UsageError(
            "--coco-gt, --yolo-names and --images are for --format coco or yolo",
            hint="--format mot reads the boxes in pixels and needs neither",
        )
    files = txt_files(paths, "MOT")
    if options.mot_category is None:
        for f in files:
            n = _first_columns(f)
            if n is not None and "class" not in LAYOUTS[n]:
                raise UsageError(
                    f"{f} has no class column ({n} values a line: {','.join(LAYOUTS[n])})",
                    hint="name the dataset category of its boxes with --mot-category NAME",
                )
    return MotSource(files, options.mot_category, options.untracked)


def _first_columns(path: str) -> int | None:
    """The value count of the first non-blank line, if it is a MOT line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    return mot_columns(line)
    except OSError as exc:
        raise InputFileError(path, f"cannot be read: {exc.strerror or exc}") from None
    return None


def _parse(text: str, expected: int | None) -> list[float] | _Problem:
    """The line's values, or what is wrong with it (``expected``: the file's count)."""
    cells = text.split(",")
    if len(cells) > 1 and not cells[-1].strip():
        cells.pop()  # a trailing comma
    n = len(cells)
    if n != expected:
        if n == 1:
            yolo = yolo_like(text)
            what = "a YOLO label line" if yolo else "not comma-separated"
            hint = "; read YOLO files with --format yolo" if yolo else ""
            return None, f"is {what}; MOT lines are {_LAYOUT_TEXT}{hint}"
        if n not in LAYOUTS:
            return None, f"has {n} values; MOT lines have {_LAYOUT_TEXT}"
        if expected is not None:
            columns = ",".join(LAYOUTS[expected])
            return None, f"has {n} values where this file's lines have {expected} ({columns})"
    try:
        # The common line at C speed; a bad one is looked at value by value below.
        values = [float(c) for c in cells]
        if all(map(isfinite, values)):
            return values
    except ValueError:
        pass
    for name, cell in zip(LAYOUTS[n], cells, strict=True):
        try:
            v = float(cell)
        except ValueError:
            return name, f"should be a number, got {cell.strip()[:40]!r}"
        if not isfinite(v):
            return name, f"should be a finite number, got {cell.strip()[:40]!r}"
    raise AssertionError("unreachable: every value parsed")  # pragma: no cover


def _whole(v: float) -> int | None:
    return int(v) if v.is_integer() else None


class MotSource:
    """A set of MOTChallenge txt files, one sequence each."""

    def __init__(
        self, files: list[str], category: str | None, untracked: Untracked = "error"
    ) -> None:
        self.files = files
        self.name = files[0]
        self.category = category
        self.untracked = untracked

    def image_keys(self) -> Iterator[tuple[str, int]]:
        for txt in self.files:
            try:
                with open(txt, "rb") as f:
                    n = sum(1 for line in f if line.strip())
            except OSError as exc:
                raise InputFileError(txt, f"cannot be read: {exc.strerror or exc}") from None
            yield sequence_key(txt), max(n, 1)

    def rows(
        self, resolver: CategoryResolver, task_type: str | None
    ) -> Iterator[FormatRow | Notice | RowError]:
        by_class: dict[int, Resolved] = {}
        fixed = resolver.resolve(self.category) if self.category is not None else None
        for warning in resolver.case_warnings:
            yield Notice(Location(self.name, 1), str(warning))
        resolver.case_warnings.clear()
        for txt in self.files:
            try:
                with open(txt, encoding="utf-8-sig") as f:
                    lines = f.read().splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                yield RowError(Location(txt, 1), None, "unreadable file", f"cannot be read: {exc}")
                continue
            numbered = [(n, text) for n, text in enumerate(lines, 1) if text.strip()]
            row = FormatRow(sequence_key(txt), Location(txt, numbered[0][0] if numbered else 1))
            row.columns = MOT_COLUMNS
            row.frame_base = 1
            expected: int | None = None
            top_id = 0  # the highest id of the file's lines, for --untracked new-track
            untracked: list[dict[str, Any]] = []  # their annotations, in line order
            for n, text in numbered:
                loc = Location(txt, n)
                raw = {"line": text}
                values = _parse(text, expected)
                if type(values) is tuple:
                    row.rows.append((loc, raw))
                    row.errors.append(RowError(loc, values[0], R_MOT, values[1]))
                    continue
                assert type(values) is list
                expected = len(values)
                if values[1] > top_id:
                    top_id = int(values[1])
                lone = values[1] == UNTRACKED_ID and self.untracked != "error"
                if lone and self.untracked == "skip":
                    row.skipped.append((SKIP_UNTRACKED, loc, raw))
                    continue
                res, cls_problem = self._category(values, fixed, resolver, by_class)
                for warning in resolver.case_warnings:
                    yield Notice(loc, str(warning))
                resolver.case_warnings.clear()
                if res is not None and res.skip is not None:
                    row.skipped.append((res.skip, loc, raw))
                    continue
                row.rows.append((loc, raw))
                if cls_problem is not None:
                    row.errors.append(RowError(loc, "class", R_CLASS, cls_problem))
                    continue
                assert res is not None
                if res.error is not None:
                    column = "class" if fixed is None else "--mot-category"
                    row.errors.append(RowError(loc, column, "unknown category", res.error))
                    continue
                ann, problem = _annotation(values, res, untracked=lone)
                if problem is not None:
                    row.errors.append(RowError(loc, problem[0], R_MOT, problem[1]))
                    continue
                if lone:
                    untracked.append(ann)
                row.annotations.append(ann)
                row.ann_locs.append(loc)
            # Only now is the file's highest id known: fresh tracks start past it.
            for fresh, ann in enumerate(untracked, start=top_id + 1):
                ann["track_id"] = fresh
            yield row

    @staticmethod
    def _category(
        values: list[float],
        fixed: Resolved | None,
        resolver: CategoryResolver,
        by_class: dict[int, Resolved],
    ) -> tuple[Resolved | None, str | None]:
        """The line's category: the class column's, else ``--mot-category``'s."""
        if len(values) != 9:
            return fixed, None
        cls = _whole(values[7])
        if cls is None:
            return None, f"should be a whole class number, got {values[7]:g}"
        res = by_class.get(cls)
        if res is None:
            number = str(cls)
            if number in resolver.category_map or cls not in MOT_CLASSES:
                res = resolver.resolve(number)
            else:
                res = resolver.resolve(MOT_CLASSES[cls])
            by_class[cls] = res
        return res, None


def _annotation(
    values: list[float], res: Resolved, *, untracked: bool = False
) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """One line's shorthand annotation, or (column, what is wrong); ``untracked``: the
    line's id is -1 and the caller gives it a track (its ``track_id`` is set later)."""
    frame = _whole(values[0])
    if frame is None or frame < 1:
        return {}, ("frame", f"should be a whole frame number from 1 (1-based), got {values[0]:g}")
    track = _whole(values[1])
    if track is None:
        return {}, ("id", f"should be a whole track id, got {values[1]:g}")
    if track < 1 and not untracked:
        if track == UNTRACKED_ID:
            return {}, (
                "id",
                "a sequence label needs a positive track id (-1 marks an untracked "
                "detection); upload a tracker's output, or pass --untracked skip (drop "
                "them) or --untracked new-track (a track of its own for each)",
            )
        return {}, ("id", f"a sequence label needs a positive track id (got {track})")
    left, top, width, height = values[2:6]
    if width <= 0:
        return {}, ("bb_width", f"should be positive, got {width:g}")
    if height <= 0:
        return {}, ("bb_height", f"should be positive, got {height:g}")
    ann: dict[str, Any] = (
        {"category_id": res.category_id} if res.category_id is not None else {"category": res.name}
    )
    ann["frame"] = frame - 1
    ann["track_id"] = track
    ann["bbox"] = [left, top, left + width, top + height]
    if len(values) >= 7 and values[6] != -1:
        ann["score"] = values[6]
    return ann, None

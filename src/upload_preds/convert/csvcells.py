"""CSV/TSV cells and header layouts.

A header is read once into a :class:`CsvLayout` (cached per header by the
:class:`~.context.Context`): which box columns it has (``x0,y0,x1,y1``,
``xmin..``, ``x,y,w,h``, ``cx,cy,w,h``; each set implies its ``--bbox-format``),
its ``attr.<name>`` columns, cuboid columns, and its problems
(:func:`csv_header_problems`, shown before anything is read).

Cells: empty means absent; numbers are read as JSON numbers
(:func:`parse_num`); ``attr.<name>`` cells are typed by :func:`attr_cell`
(``true``/``false``, JSON numbers, ``null``, JSON lists and quoted strings;
anything else stays text).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import orjson

from upload_preds.convert.checks import (
    INT_MAX,
    INT_MIN,
    R_INVALID,
    R_MISSING,
    R_NON_FINITE,
    Err,
    suggest_key,
)
from upload_preds.convert.options import ConvertOptions
from upload_preds.convert.shapes import FMT_HELP

_INT_RE = re.compile(r"[+-]?\d+\Z")
_NUM_RE = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")


def parse_int(text: str) -> int | None:
    if _INT_RE.match(text):
        v = int(text)
        if INT_MIN <= v <= INT_MAX:
            return v
    return None


def parse_num(text: str) -> float | Err:
    """A number cell (decimal or scientific notation, finite) → a float."""
    if not text:
        return R_MISSING, "empty: a number is needed"
    try:
        v = float(text)
    except ValueError:
        return R_INVALID, f"should be a number, got {text!r}"
    if not math.isfinite(v):
        return R_NON_FINITE, f"should be a finite number, got {text!r}"
    return v


def json_cell(text: str) -> Any:
    """A cell holding JSON (points, position...); invalid JSON becomes the text itself,
    which the shape check then reports with the value it got."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def attr_cell(text: str) -> Any:
    """An ``attr.<name>`` cell → a typed value.

    ``true``/``false`` (any case) → boolean; a JSON number (``3``, ``-0.5``,
    ``1e3``) → number; ``null`` → null; a JSON list (``["a", "b"]``) or a JSON
    string (``"007"``, to keep text that would otherwise parse) → that value;
    anything else → the text unchanged.
    """
    low = text.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low == "null":
        return None
    s = text.strip()
    if _NUM_RE.match(s):
        iv = parse_int(s)
        if iv is not None:
            return iv
        v = float(s)
        return v if math.isfinite(v) else text
    if s[:1] in ('"', "["):
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            return text
    return text


# Column sets for a box, and the --bbox-format each one means.
BOX_COLUMNS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("x0", "y0", "x1", "y1"), "xyxy"),
    (("xmin", "ymin", "xmax", "ymax"), "xyxy"),
    (("x", "y", "w", "h"), "xywh"),
    (("cx", "cy", "w", "h"), "cxcywh"),
)
_CSV_PLAIN = (
    "sample_uuid",
    "sample_name",
    "labelset",
    "category",
    "category_id",
    "type",
    "points",
    "score",
    "id",
    "position",
    "dimensions",
    "yaw",
    "rotation",
    # The image size (--normalized); in a cuboid layout, the cuboid's width and height.
    "width",
    "height",
    # Sequence datasets (convert/sequences.py): the object's frame, track and keyframe flag,
    # and the sensor of a multi-sensor dataset.
    "frame",
    "track_id",
    "is_keyframe",
    "sensor",
)
#: The columns that only sequence datasets take.
SEQUENCE_COLUMNS = frozenset({"frame", "track_id", "is_keyframe", "sensor"})
#: The columns of a segmentation sequence's frame lines (convert/segsequences.py): a
#: file may mix them with other sensors' lines, whose cells there are empty.
SEGMENTATION_COLUMNS = ("point_labels_path", "mask_path", "mask_kind", "annotations")
#: Point-cloud cuboids as plain columns: position x,y,z, dimensions length (x),
#: width (y), height (z); with the ``yaw`` column.
CUBOID_COLUMNS = ("x", "y", "z", "length", "width", "height")
#: Every column name the CSV/TSV input understands (besides ``attr.<name>``).
CSV_COLUMNS: tuple[str, ...] = (
    _CSV_PLAIN
    + SEGMENTATION_COLUMNS
    + tuple(sorted({c for cols, _ in BOX_COLUMNS for c in cols} | {"z", "length"}))
)


class CsvLayout:
    """What a CSV header means: box columns, attribute columns, problems. Cached per header."""

    __slots__ = (
        "attrs",
        "box",
        "box_format",
        "cuboid",
        "fast",
        "problems",
        "segmentation",
        "sequence",
    )

    def __init__(self, columns: list[str], fmt: str) -> None:
        self.problems: list[tuple[str, str]] = []
        self.attrs: list[tuple[str, str]] = []
        self.box: tuple[str, ...] | None = None
        self.box_format: str | None = None
        present = set(columns)
        #: The sequence columns it has (frame, track_id, ...), for the sequence check.
        self.sequence = sorted(present & SEQUENCE_COLUMNS)
        #: Its segmentation frame columns: their cells must be empty in an object's line.
        self.segmentation = [c for c in SEGMENTATION_COLUMNS if c in present]
        # Cuboid columns (x,y,z,length,width,height): z or length says so; their x and y
        # are then a position, not box columns.
        self.cuboid = bool(present & {"z", "length"})
        if self.cuboid:
            missing = [c for c in CUBOID_COLUMNS if c not in present]
            if missing:
                self.problems.append(
                    (
                        missing[0],
                        f"incomplete cuboid columns: missing {', '.join(missing)} (a cuboid "
                        "needs x,y,z,length,width,height and yaw)",
                    )
                )
            for col in ("position", "dimensions"):
                if col in present:
                    self.problems.append(
                        (col, f"give the cuboid as x,y,z,length,width,height or {col} (JSON), "
                         "not both")
                    )  # fmt: skip
            present = present - {"x", "y"}
        for cols, box_fmt in BOX_COLUMNS:
            if present.issuperset(cols):
                if self.box is not None:
                    continue  # x,y,w,h and cx,cy,w,h both present: reported below
                self.box, self.box_format = cols, box_fmt
        if self.box is not None:
            if self.box_format != fmt:
                self.problems.append(
                    (
                        ",".join(self.box),
                        f"columns {','.join(self.box)} hold a box as {FMT_HELP[self.box_format or fmt].split(' with ')[0]}, "
                        f"but --bbox-format is {fmt}: pass --bbox-format {self.box_format}",
                    )
                )
            others = [
                c for cols, _ in BOX_COLUMNS if cols != self.box for c in cols if c in present
            ]
            extra = sorted(set(others) - set(self.box))
            if extra:
                self.problems.append(
                    (
                        extra[0],
                        f"box columns {', '.join(extra)} conflict with {','.join(self.box)}: keep one set",
                    )
                )
        else:
            partial = sorted({c for cols, _ in BOX_COLUMNS for c in cols if c in present})
            if partial:
                self.problems.append(
                    (
                        partial[0],
                        f"incomplete box columns ({', '.join(partial)}): use x0,y0,x1,y1 or "
                        "xmin,ymin,xmax,ymax (--bbox-format xyxy), x,y,w,h (xywh) or "
                        "cx,cy,w,h (cxcywh)",
                    )
                )
        known = set(CSV_COLUMNS)
        for c in columns:
            if c.startswith("attr."):
                if len(c) > 5:
                    self.attrs.append((c, c[5:]))
                else:
                    self.problems.append((c, "an attribute column needs a name: attr.<name>"))
            elif c not in known:
                self.problems.append(
                    (
                        c,
                        "unknown column"
                        + suggest_key(c, known)
                        + " (attribute columns are attr.<name>)",
                    )
                )
        if "sample_uuid" not in present and "sample_name" not in present:
            self.problems.append(("sample_uuid", "missing column: sample_uuid or sample_name"))
        if "category" not in present and "category_id" not in present:
            self.problems.append(("category", "missing column: category or category_id"))
        # Records of this header may take fast.csv_fast: boxes only.
        self.fast = (
            not self.problems
            and self.box is not None
            and not present & {"type", "points", "id", "position", "dimensions", "yaw", "rotation"}
        )


def csv_header_problems(columns: Sequence[str], options: ConvertOptions) -> list[tuple[str, str]]:
    """Problems of a CSV/TSV header as ``(column, message)``, for failing fast before
    reading the rows; every row of such a file would fail with the same errors."""
    return list(CsvLayout(list(columns), options.bbox_format).problems)

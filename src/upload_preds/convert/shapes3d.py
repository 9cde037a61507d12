"""3-D vector shapes of point cloud labels: polygons, polylines and points.

The ``pointcloud-vector`` label format (the SDK's
``PointcloudVectorLabelAttributes``) holds annotations of type ``polygon``,
``polyline`` and ``point`` whose ``points`` are ``[x, y, z]`` triples in the
point cloud's frame, and may hold cuboids beside them (the SDK's annotation
union is discriminated by ``type``). Its ``format_version`` is ``"0.2"``, as for
every point cloud label the converter writes.

Rules of one shape (:func:`check_points3d`):

* ``points`` is a list of ``[x, y, z]``: exactly three finite numbers each;
* a polygon needs at least 3 points, a polyline at least 2, a point exactly 1.

A problem is returned with the index of the point it is about, so the caller
names ``annotations[i].points[j]`` (or, in CSV, the ``points`` column and the
point's index). There is no bbox in 3-D, and ``--normalized`` (fractions of an
image's size) has no meaning for coordinates in metres.

CSV/TSV records give a shape's points as JSON in the ``points`` column
(``"[[1.5, 2, 0], [3, 4, 0.2]]"``), with its ``type`` column
(:func:`points_cells`). In one file, cuboid rows may use the cuboid columns
(``x,y,z,length,width,height,yaw``) and shape rows leave them empty.

The shorthand (:mod:`.shorthand`) and the CSV records (:mod:`.csvrows`) take
their 3-D geometry from here when the dataset's label kind is in
:data:`KINDS_3D`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from upload_preds.convert.checks import (
    R_INVALID,
    R_MISSING,
    R_POINTS,
    Err,
    is_num,
    num_err,
    short,
)
from upload_preds.convert.csvcells import CUBOID_COLUMNS, CsvLayout, json_cell

#: The label kinds whose vector shapes are 3-D (and which may mix in cuboids).
KINDS_3D = frozenset({"pointcloud-vector", "pointcloud-vector-sequence"})
#: The annotation types of a point cloud vector label, as the SDK lists them.
SHAPES_3D = ("polygon", "polyline", "point", "cuboid")
#: The format version of point cloud vector labels.
FORMAT_VERSION_3D = "0.2"

_MIN_POINTS = {"polygon": 3, "polyline": 2, "point": 1}
_RULE = {
    "polygon": "at least 3 points",
    "polyline": "at least 2 points",
    "point": "exactly one point",
}

#: ``(index of the point or None for the whole list, reason, message)``.
PointsErr = tuple[int | None, str, str]


def check_points3d(v: Any, t: str) -> list[list[Any]] | PointsErr:
    """A list of ``[x, y, z]`` points with the count a ``t`` needs; or what is wrong."""
    if type(v) is not list:
        return (
            None,
            R_POINTS,
            (f"should be a list of [x, y, z] points (a {t} needs {_RULE[t]}), got {short(v)}"),
        )
    n = len(v)
    need = _MIN_POINTS[t]
    if n < need or (t == "point" and n != 1):
        return None, R_POINTS, f"a {t} needs {_RULE[t]}, got {n} point{'s' * (n != 1)}"
    out: list[list[Any]] = []
    for j, p in enumerate(v):
        if type(p) is not list or len(p) != 3:
            return j, R_POINTS, f"should be [x, y, z] (3 numbers), got {short(p)}"
        for axis, c in zip("xyz", p, strict=True):
            if not is_num(c):
                reason, msg = num_err(c)
                return j, reason, f"{axis}: {msg}"
        out.append(p)
    return out


def type_problem(t: Any) -> tuple[str, str]:
    """The reason and message for an annotation type a point cloud vector label lacks."""
    if t is None:
        return R_MISSING, (
            "give the annotation's type: " + ", ".join(SHAPES_3D) + " (point cloud vector labels "
            "have no default type)"
        )
    if t == "bbox":
        return R_INVALID, (
            "a bbox is a 2-D image shape; point cloud vector labels take "
            + ", ".join(SHAPES_3D)
            + " (a 3-D box is a cuboid)"
        )
    return R_INVALID, f"should be one of {', '.join(SHAPES_3D)}, got {short(t)}"


def where(field: str, err: PointsErr) -> str:
    """``points`` or ``points[j]``: the field a :data:`PointsErr` is about."""
    return field if err[0] is None else f"{field}[{err[0]}]"


def points_cells(
    cells: dict[str, Any],
    layout: CsvLayout,
    t: str,
    o: dict[str, Any],
    fail: Callable[[str, Err], None],
) -> None:
    """A CSV record's 3-D shape of type ``t`` into the annotation ``o``; each problem goes
    to ``fail(column, (reason, message))``."""
    if layout.box is not None and any((cells.get(c) or "").strip() for c in layout.box):
        fail(layout.box[0], (R_INVALID, "box columns do not apply to point cloud shapes"))
        return
    if layout.cuboid:
        filled = [c for c in (*CUBOID_COLUMNS, "yaw") if (cells.get(c) or "").strip()]
        if filled:
            fail(
                filled[0],
                (R_INVALID, f"cuboid columns do not apply to a {t}: leave them empty"),
            )
            return
    text = (cells.get("points") or "").strip()
    if not text:
        fail("points", (R_MISSING, f"a {t} needs a points column holding [[x, y, z], ...]"))
        return
    res = check_points3d(json_cell(text), t)
    if type(res) is tuple:
        j, reason, msg = res
        fail("points", (reason, msg if j is None else f"points[{j}]: {msg}"))
    else:
        o["points"] = res

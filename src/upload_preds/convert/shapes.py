"""Image vector shapes: bbox conventions and point lists of 2-D annotations.

* A bbox is four numbers in ``--bbox-format`` (``xyxy`` corners, ``xywh``,
  ``cxcywh``) and always becomes ``[[min x, min y], [max x, max y]]``,
  whatever corner order it came in; a zero-area box is an error.
* ``points`` are ``[x, y]`` pairs: a bbox takes two opposite corners, a polygon
  at least 3 points, a polyline at least 2, a point exactly one.
* :func:`shape_points` is the geometry of one shorthand annotation (``bbox`` or
  ``points``, scaled when ``--normalized``), used by :mod:`.shorthand`.
"""

from __future__ import annotations

from typing import Any

from upload_preds.convert.checks import (
    INF,
    R_BBOX,
    R_INVALID,
    R_MISSING,
    R_POINTS,
    R_ZERO_AREA,
    Err,
    is_num,
    num_err,
    scale_points,
    short,
)


def check_bbox(v: Any, fmt: str) -> list[list[float]] | Err:
    """Four numbers in ``fmt`` → ``[[min x, min y], [max x, max y]]``."""
    if type(v) is not list or len(v) != 4:
        return R_BBOX, f"should be a list of 4 numbers ({FMT_HELP[fmt]}), got {short(v)}"
    a, b, c, d = v
    # Fast path: four finite floats (what model outputs almost always are).
    if not (
        type(a) is float
        and type(b) is float
        and type(c) is float
        and type(d) is float
        and -INF < a < INF
        and -INF < b < INF
        and -INF < c < INF
        and -INF < d < INF
    ):
        for x in v:
            if not is_num(x):
                reason, msg = num_err(x)
                return reason, f"bbox {msg}"
    if fmt == "xyxy":
        if a > c:
            a, c = c, a
        if b > d:
            b, d = d, b
    else:
        if c < 0 or d < 0:
            return R_BBOX, (
                f"width and height should not be negative with --bbox-format {fmt}, got "
                f"{c!r}, {d!r}; if the numbers are two corners, use --bbox-format xyxy"
            )
        if fmt == "xywh":
            c = a + c
            d = b + d
        else:
            a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    if a == c or b == d:
        return R_ZERO_AREA, f"box has zero area ({FMT_HELP[fmt]}: {short(v)})"
    return [[a, b], [c, d]]


FMT_HELP = {
    "xyxy": "x0, y0, x1, y1 with --bbox-format xyxy",
    "xywh": "x, y, width, height with --bbox-format xywh",
    "cxcywh": "centre x, centre y, width, height with --bbox-format cxcywh",
}

_MIN_POINTS = {"bbox": 2, "polygon": 3, "polyline": 2, "point": 1}
_POINTS_RULE = {
    "bbox": "two opposite corners",
    "polygon": "at least 3 points",
    "polyline": "at least 2 points",
    "point": "exactly one point",
}


def check_points(v: Any, t: str) -> list[list[float]] | Err:
    """A list of ``[x, y]`` pairs with the count the shape needs."""
    if type(v) is not list:
        return R_POINTS, (
            f"should be a list of [x, y] points (a {t} needs {_POINTS_RULE[t]}), got {short(v)}"
        )
    n = len(v)
    need = _MIN_POINTS[t]
    if n < need or (n != need and t in ("bbox", "point")):
        return R_POINTS, f"a {t} needs {_POINTS_RULE[t]}, got {n} point{'s' * (n != 1)}"
    out: list[list[float]] = []
    for i, p in enumerate(v):
        if type(p) is not list or len(p) != 2:
            hint = (
                " (3-D points are for pointcloud-vector datasets: give the task type with "
                "--dataset or --categories)"
                if type(p) is list and len(p) == 3
                else ""
            )
            return R_POINTS, f"point {i} should be [x, y], got {short(p)}{hint}"
        x, y = p
        if not (is_num(x) and is_num(y)):
            reason, msg = num_err(y if is_num(x) else x)
            return reason, f"point {i}: {msg}"
        out.append([x, y])
    if t == "bbox":
        (a, b), (c, d) = out
        if a > c:
            a, c = c, a
        if b > d:
            b, d = d, b
        if a == c or b == d:
            return R_ZERO_AREA, f"box has zero area: {short(v)}"
        return [[a, b], [c, d]]
    return out


def shape_points(
    a: dict[str, Any], t: str, fmt: str, norm: tuple[int, int] | None
) -> tuple[str, list[list[float]] | Err]:
    """A shorthand 2-D annotation's geometry: (the field it came from, its points or what
    is wrong). ``bbox`` takes ``fmt``; ``norm`` is the image size of ``--normalized``."""
    bb = a.get("bbox") if t == "bbox" else None
    pts: list[list[float]] | Err
    if bb is not None:
        if "points" in a:
            return "bbox", (R_INVALID, "give either bbox or points, not both")
        pts = check_bbox(bb, fmt)
        field = "bbox"
    else:
        p = a.get("points")
        field = "points"
        if p is None:
            need = "bbox or points" if t == "bbox" else "points"
            return field, (R_MISSING, f"a {t} needs {need}")
        pts = check_points(p, t)
    if not isinstance(pts, tuple) and norm is not None:
        pts = scale_points(pts, norm)
    return field, pts

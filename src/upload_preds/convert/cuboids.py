"""Point cloud cuboids: position, dimensions, yaw and optional rotation of one annotation.

Vectors are accepted as objects (``{"x", "y", "z"}``, ``{"qx", "qy", "qz",
"qw"}``) or as lists in that order, and always written as objects, in the
label format's key order: position, dimensions, yaw, rotation. Dimensions must
all be greater than 0. CSV records give cuboids as plain columns
(``x,y,z,length,width,height,yaw``, see :mod:`.csvcells`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from upload_preds.convert.checks import R_CUBOID, R_INVALID, R_MISSING, Err, is_num, num_err, short
from upload_preds.convert.csvcells import CUBOID_COLUMNS, CsvLayout, json_cell, parse_num
from upload_preds.records import Location, RowError

XYZ = ("x", "y", "z")
QUAT = ("qx", "qy", "qz", "qw")


def check_vec(v: Any, keys: tuple[str, ...], what: str) -> dict[str, float] | Err:
    """``{"x":..,"y":..,"z":..}`` or ``[x, y, z]`` (or the quaternion form) → the object form."""
    if type(v) is list:
        if len(v) != len(keys):
            return R_CUBOID, f"{what} should be {len(keys)} numbers, got {short(v)}"
        if all(map(is_num, v)):  # the common case: no pairs made to check them one by one
            return dict(zip(keys, v, strict=True))
        items = list(zip(keys, v, strict=True))
    elif type(v) is dict:
        if set(v) != set(keys):
            return (
                R_CUBOID,
                f"{what} should have exactly the keys {', '.join(keys)}, got {short(v)}",
            )
        items = [(k, v[k]) for k in keys]
    else:
        return R_CUBOID, f"{what} should be an object {{{', '.join(keys)}}} or a list of numbers"
    for k, x in items:
        if not is_num(x):
            reason, msg = num_err(x)
            return reason, f"{what} {k}: {msg}"
    return dict(items)


def check_cuboid(
    a: dict[str, Any], i: int, loc: Location, errors: list[RowError]
) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    ok = True
    for key, keys in (("position", XYZ), ("dimensions", XYZ), ("rotation", QUAT)):
        v = a.get(key)
        if v is None:
            if key != "rotation":
                ok = False
                errors.append(
                    RowError(loc, f"annotations[{i}].{key}", R_MISSING, f"a cuboid needs {key}")
                )
            continue
        res = check_vec(v, keys, key)
        if type(res) is tuple:
            ok = False
            errors.append(RowError(loc, f"annotations[{i}].{key}", res[0], res[1]))
        else:
            out[key] = res
    dims = out.get("dimensions")
    if dims is not None and min(dims.values()) <= 0:
        ok = False
        errors.append(
            RowError(
                loc,
                f"annotations[{i}].dimensions",
                R_CUBOID,
                f"dimensions should all be greater than 0, got {short(a['dimensions'])}",
            )
        )
    yaw = a.get("yaw")
    if yaw is None:
        ok = False
        errors.append(RowError(loc, f"annotations[{i}].yaw", R_MISSING, "a cuboid needs yaw"))
    elif not is_num(yaw):
        ok = False
        reason, msg = num_err(yaw)
        errors.append(RowError(loc, f"annotations[{i}].yaw", reason, msg))
    else:
        out["yaw"] = yaw
    if not ok:
        return None
    # The label format's key order: position, dimensions, yaw, rotation.
    ordered = {"position": out["position"], "dimensions": out["dimensions"], "yaw": yaw}
    if "rotation" in out:
        ordered["rotation"] = out["rotation"]
    return ordered


def cuboid_cells(
    cells: dict[str, Any], layout: CsvLayout, o: dict[str, Any], fail: Callable[[str, Err], None]
) -> None:
    """A CSV record's cuboid into the annotation ``o``; each problem goes to ``fail(column,
    (reason, message))``.

    With plain columns (``layout.cuboid``: ``x,y,z,length,width,height``) the
    numbers are cells; otherwise ``position``, ``dimensions`` and ``rotation``
    cells hold JSON (a list or an object, as in a JSON row). ``yaw`` is a
    number cell either way; ``rotation`` is optional.
    """
    if layout.cuboid:
        cub: dict[str, float] = {}
        for col in CUBOID_COLUMNS:
            num = parse_num((cells.get(col) or "").strip())
            if isinstance(num, tuple):
                fail(col, num)
            elif col in ("length", "width", "height") and num <= 0:
                fail(col, (R_CUBOID, f"should be greater than 0, got {num!r}"))
            else:
                cub[col] = num
        if len(cub) == len(CUBOID_COLUMNS):
            o["position"] = {"x": cub["x"], "y": cub["y"], "z": cub["z"]}
            o["dimensions"] = {"x": cub["length"], "y": cub["width"], "z": cub["height"]}
        yaw = parse_num((cells.get("yaw") or "").strip())
        if isinstance(yaw, tuple):
            fail("yaw", yaw)
        elif "position" in o:
            o["yaw"] = yaw
        text = (cells.get("rotation") or "").strip()
        if text:
            rot = check_vec(json_cell(text), QUAT, "rotation")
            if isinstance(rot, tuple):
                fail("rotation", rot)
            else:
                o["rotation"] = rot
        return
    for col, keys in (("position", XYZ), ("dimensions", XYZ), ("rotation", QUAT)):
        text = (cells.get(col) or "").strip()
        if not text:
            if col != "rotation":
                fail(col, (R_MISSING, f"a cuboid needs a {col} column holding JSON"))
            continue
        vec = check_vec(json_cell(text), keys, col)
        if isinstance(vec, tuple):
            fail(col, vec)
        elif col == "dimensions" and min(vec.values()) <= 0:
            fail(col, (R_CUBOID, f"dimensions should all be greater than 0, got {text}"))
        else:
            o[col] = vec
    yaw = parse_num((cells.get("yaw") or "").strip())
    if isinstance(yaw, tuple):
        fail("yaw", yaw)
    elif "position" in o and "dimensions" in o:
        rot = o.pop("rotation", None)
        o["yaw"] = yaw
        if rot is not None:
            o["rotation"] = rot
    if layout.box is not None and any((cells.get(c) or "").strip() for c in layout.box):
        fail(layout.box[0], (R_INVALID, "box columns do not apply to a cuboid"))

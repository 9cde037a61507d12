"""The common LiDAR tracker row checked in few operations: one cuboid per object per sweep.

:func:`cuboid_line` takes a ``pointcloud-cuboid-sequence`` row once ``orjson``
has made a dict of it: cuboids (``"type": "cuboid"``, ``position`` and
``dimensions`` as three numbers or ``{x, y, z}``, ``yaw``, maybe ``rotation`` as
four numbers or ``{qx, qy, qz, qw}``) with a category (name or id), a track id,
maybe a score, keyframe flag and frame. It builds the :class:`~.seqfast.Line`
the full way (:func:`.seqlines._json_line`, which runs the shorthand family and
:func:`.cuboids.check_cuboid` per annotation) would make of the row, and
answers ``None`` at the first thing it does not handle: the row then takes the
full way, which words every problem. So this only has to be right when it
answers; a property test holds its lines to the full way's, field for field.

Why a second way: the full way checks each annotation through the shorthand
family's general code (every shape's rules, key sets, error bookkeeping) and
rebuilds it twice (the frame family's annotation, then the sequence's); for a
500-frame, 50-track label that was 23x ``orjson.dumps`` of the finished label
from the rows, against 13x for image boxes (bench_sequences.py, section 2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from upload_preds.convert.checks import INT_MAX, is_num
from upload_preds.convert.seqfast import FAST_ROW_KEYS, Line, Obj, frame_score_keyframe
from upload_preds.records import Location

if TYPE_CHECKING:
    from upload_preds.convert.seqlines import FrameRules

__all__ = ["cuboid_line"]

_XYZ: Final = frozenset({"x", "y", "z"})
_QUAT: Final = frozenset({"qx", "qy", "qz", "qw"})


def _xyz(v: Any) -> dict[str, Any] | None:
    """``[x, y, z]`` or ``{x, y, z}`` of finite numbers → ``{"x", "y", "z"}``, else None."""
    if type(v) is list:
        if len(v) != 3:
            return None
        x, y, z = v
    elif type(v) is dict and v.keys() == _XYZ:
        x, y, z = v["x"], v["y"], v["z"]
    else:
        return None
    if is_num(x) and is_num(y) and is_num(z):
        return {"x": x, "y": y, "z": z}
    return None


def _quat(v: Any) -> dict[str, Any] | None:
    """``[qx, qy, qz, qw]`` or the object form of finite numbers, else None."""
    if type(v) is list:
        if len(v) != 4:
            return None
        qx, qy, qz, qw = v
    elif type(v) is dict and v.keys() == _QUAT:
        qx, qy, qz, qw = v["qx"], v["qy"], v["qz"], v["qw"]
    else:
        return None
    if is_num(qx) and is_num(qy) and is_num(qz) and is_num(qw):
        return {"qx": qx, "qy": qy, "qz": qz, "qw": qw}
    return None


def cuboid_line(rules: FrameRules, data: dict[str, Any], loc: Location) -> Line | None:
    """The :class:`~.seqfast.Line` of a common cuboid row, or ``None`` (the full way)."""
    if not data.keys() <= FAST_ROW_KEYS:
        return None
    row_frame = data.get("frame")
    if "frame" in data and not (type(row_frame) is int and 0 <= row_frame <= INT_MAX):
        return None
    anns = data.get("annotations")
    if type(anns) is not list:
        return None
    fctx = rules.frame_ctx
    names = fctx.names
    ids = fctx.ids
    objs: list[Obj] = []
    for i, a in enumerate(anns):
        # (No type is a cuboid: the default of a cuboid dataset, as in shorthand.py.)
        if type(a) is not dict or a.get("type", "cuboid") != "cuboid":
            return None
        known = 6 if "type" in a else 5  # type, position, dimensions, yaw, track_id, a category
        cid = a.get("category_id")
        if cid is None:
            cname = a.get("category")
            if type(cname) is not str:
                return None
            cid = names.get(cname)
            if cid is None:
                return None
        elif type(cid) is not int or ids is None or cid not in ids or "category" in a:
            return None
        track = a.get("track_id")
        if type(track) is not int or not 0 < track <= INT_MAX:
            return None
        position = _xyz(a.get("position"))
        dimensions = _xyz(a.get("dimensions"))
        if position is None or dimensions is None:
            return None
        if not (dimensions["x"] > 0 and dimensions["y"] > 0 and dimensions["z"] > 0):
            return None
        yaw = a.get("yaw")
        if not is_num(yaw):
            return None
        place = frame_score_keyframe(a, row_frame)
        if place is None:
            return None
        frame, score, keyframe, extra = place
        known += extra
        # The label format's key order: position, dimensions, yaw, rotation.
        out: dict[str, Any] = {
            "id": track,
            "category_id": cid,
            "type": "cuboid",
            "position": position,
            "dimensions": dimensions,
            "yaw": yaw,
        }
        if "rotation" in a:
            known += 1
            rotation = _quat(a["rotation"])
            if rotation is None:
                return None
            out["rotation"] = rotation
        if len(a) != known:
            return None  # attributes, ids, unknown keys, a key given as null: the full way
        out["track_id"] = track
        out["is_keyframe"] = keyframe
        objs.append(Obj(frame, track, keyframe, score, out, i))
    return Line(loc, objs)

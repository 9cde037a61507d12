"""The checked lines of a sequence label (:class:`Obj`, :class:`Line`) and the fast path
that checks the common tracker row (see :mod:`.seqlines` for the full checks).

:func:`fast_objects` takes a row of image boxes in pixels with a category (name
or id), a track id, maybe a score, keyframe flag and frame, and gives its
objects in a compact form (:data:`Compact`: plain JSON lists, which is what the
grouping spills); it answers ``None`` at the first thing it does not handle,
and :func:`.seqlines.check_line` then does the full job and reports every
problem. :func:`compact_line` turns compact objects into the :class:`Line` the
full path would have made of the row (a property test checks that they agree).
The pipeline runs :func:`fast_objects` when a row is read
(:mod:`upload_preds.seqgroups`), so such a row is checked once and only its
compact objects are parsed again from the spill.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from upload_preds.convert.checks import INT_MAX, INT_MIN, is_num
from upload_preds.convert.shapes import check_bbox
from upload_preds.records import Location

if TYPE_CHECKING:
    from upload_preds.convert.seqlines import FrameRules


@dataclass(slots=True)
class Obj:
    """One checked object of a line: where it goes and its annotation (without ids)."""

    frame: int
    track: int
    keyframe: bool
    score: float | None
    #: The annotation as it goes in its frame: the frame family's, with ``id`` =
    #: ``track_id``, ``track_id`` and ``is_keyframe``.
    out: dict[str, Any]
    #: Its position in the row's ``annotations``; -1 for a CSV record (one object).
    index: int

    @property
    def where(self) -> str:
        """How the input names it: ``annotations[2]`` in a JSON row, "" for a CSV record."""
        return f"annotations[{self.index}]" if self.index >= 0 else ""


@dataclass(slots=True)
class Line:
    """One input line of a sequence label, checked: its objects and frame attributes."""

    loc: Location
    objects: list[Obj]
    image_attributes: tuple[int, dict[str, Any]] | None = None


_INF = float("inf")
_NUMBER: Final = frozenset({int, float})  # JSON numbers (bool is not one: its type is bool)
#: The keys a row the fast paths take may have (boxes here, cuboids in cuboidfast.py).
FAST_ROW_KEYS: Final = frozenset({"sample_uuid", "sample_name", "labelset", "frame", "annotations"})


#: The objects of a line the fast path took, as they are spilled (JSON) and kept: one
#: flat list, :data:`FIELDS` values an object in annotation order: ``frame, track,
#: is_keyframe, score, category_id`` and the box ``min x, min y, max x, max y``. Flat,
#: since parsing nested lists back was a tenth of the dry run (read one object at a
#: time with :func:`objects`).
Compact = list[Any]
FIELDS: Final = 9


def objects(compact: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    """The objects of a :data:`Compact` list (or of several chained), one tuple of
    :data:`FIELDS` values each."""
    it = iter(compact)
    return zip(*[it] * FIELDS, strict=False)


def frame_score_keyframe(a: dict[str, Any], row_frame: Any) -> tuple[int, Any, bool, int] | None:
    """An annotation's ``frame`` (its own, or the row's ``row_frame``: ``None`` when the
    row has none), ``score`` and ``is_keyframe`` as the fast paths take them, with how
    many of those keys it has; ``None`` for anything the full path must word (the
    shared part of :func:`fast_objects` and :func:`.cuboidfast.cuboid_line`)."""
    keys = 0
    if "frame" in a:
        keys += 1
        frame = a["frame"]
        if type(frame) is not int or not 0 <= frame <= INT_MAX:
            return None
        if row_frame is not None and frame != row_frame:
            return None
    elif row_frame is None:
        return None
    else:
        frame = row_frame
    score = a.get("score")
    if score is not None:
        keys += 1
        if not (type(score) is float and -_INF < score < _INF) and not is_num(score):
            return None
    keyframe = True
    if "is_keyframe" in a:
        keys += 1
        keyframe = a["is_keyframe"]
        if type(keyframe) is not bool:
            return None
    return frame, score, keyframe, keys


def fast_objects(rules: FrameRules, data: dict[str, Any]) -> Compact | None:
    """The common row of a tracker, in few operations: boxes in pixels with a category
    (name or id), a track id, maybe a score, keyframe flag and frame, as compact
    objects (:data:`Compact`). ``None`` at the first thing it does not handle;
    :func:`_json_line` then does the full job and reports every problem, so this only
    needs to be right when it answers (a test checks that it agrees with the full path).

    The pipeline runs it when a row is read (:mod:`upload_preds.seqgroups`), so a row
    is checked once and only its compact objects are parsed again from the spill."""
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
    fmt = fctx.fmt
    xyxy = fmt == "xyxy"
    objs: Compact = []
    for a in anns:
        if type(a) is not dict:
            return None
        known = 3  # bbox, track_id, and a category
        cid = a.get("category_id")
        if cid is None:
            cname = a.get("category")
            if type(cname) is not str:
                return None  # (a list or an object would not even be a dict key)
            cid = names.get(cname)
            if cid is None:
                return None
        elif type(cid) is not int or ids is None or cid not in ids or "category" in a:
            return None
        track = a.get("track_id")
        if type(track) is not int or not 0 < track <= INT_MAX:
            return None
        box = a.get("bbox")
        if type(box) is not list:
            return None
        if xyxy and len(box) == 4:
            # check_bbox's xyxy rules inline for four plain numbers (a third of the
            # path's time went to the call and its per-number checks).
            x0, y0, x1, y1 = box
            if not (
                type(x0) in _NUMBER
                and type(y0) in _NUMBER
                and type(x1) in _NUMBER
                and type(y1) in _NUMBER
                and INT_MIN <= x0 <= INT_MAX
                and INT_MIN <= y0 <= INT_MAX
                and INT_MIN <= x1 <= INT_MAX
                and INT_MIN <= y1 <= INT_MAX
                and x0 != x1
                and y0 != y1
            ):
                return None  # (a finite float past the int range: check_bbox's job)
            if x0 > x1:
                x0, x1 = x1, x0
            if y0 > y1:
                y0, y1 = y1, y0
        else:
            corners = check_bbox(box, fmt)
            if isinstance(corners, tuple):
                return None
            (x0, y0), (x1, y1) = corners
        place = frame_score_keyframe(a, row_frame)
        if place is None:
            return None
        frame, score, keyframe, extra = place
        known += extra
        if "type" in a:
            known += 1
            if a["type"] != "bbox":
                return None
        if len(a) != known:
            return None  # attributes, ids, unknown keys: the full path
        objs += (frame, track, keyframe, score, cid, x0, y0, x1, y1)
    return objs


def compact_line(loc: Location, objs: Compact) -> Line:
    """The :class:`Line` of a row :func:`fast_objects` took (its objects as the full
    path builds them: ``id`` = ``track_id``, a bbox, ``track_id`` and ``is_keyframe``)."""
    return Line(
        loc,
        [
            Obj(
                frame,
                track,
                keyframe,
                score,
                {
                    "id": track,
                    "category_id": cid,
                    "type": "bbox",
                    "points": [[x0, y0], [x1, y1]],
                    "track_id": track,
                    "is_keyframe": keyframe,
                },
                i,
            )
            for i, (frame, track, keyframe, score, cid, x0, y0, x1, y1) in enumerate(objects(objs))
        ],
    )


def _fast_line(rules: FrameRules, data: dict[str, Any], loc: Location) -> Line | None:
    """:func:`fast_objects` as a :class:`Line`, or ``None``."""
    objs = fast_objects(rules, data)
    return compact_line(loc, objs) if objs is not None else None

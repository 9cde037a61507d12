"""The common tracker row decoded and checked straight from its JSON line, in one C step.

:func:`.seqfast.fast_objects` checks the common row of a tracker (image boxes
in pixels, a category, a track id, maybe a score, keyframe flag and frame) once
``orjson`` has made a dict of it. :class:`RowDecoder` does the same job on the
line's bytes: ``msgspec`` decodes the line into the typed structs below
(:class:`_Row`, :class:`_Ann`), which checks the keys (no other key is allowed),
the types and the ranges of track ids and frames while it parses, faster than
``orjson.loads`` makes the dict (measured on the bench's rows: 0.51 vs 0.62 us a
row). Only what a type cannot say is left to Python: the category's name or id,
the box's corners, the row frame against the annotation's.

It answers ``None`` whenever it does not take a line, and the line then goes
the full way (``orjson.loads``, the reader's checks, :func:`.seqfast.fast_objects`
or :func:`.seqlines.check_line`), which words every problem as before: this
decoder only has to be right when it answers (a property test checks that its
objects are the ones :func:`.seqfast.fast_objects` makes of the same row).

What a decoder keeps silent is declined on purpose:

* a key given twice: ``msgspec`` keeps the last one. Every key is followed by a
  ``:``, so the line's colons equal the keys it decoded only when none was lost
  (a colon inside a string, say a category ``"a:b"``, also declines: rare, and
  right by the full way);
* numbers: ``int | float`` keeps ``258`` an int and ``258.0`` a float, as
  ``orjson`` does, so labels stay byte-identical; an int past the 64-bit range
  or a float past the int range is declined (``check_bbox``'s job, as for
  :func:`.seqfast.fast_objects`); ``msgspec`` refuses ``1e999`` (out of range),
  ``true`` as a number, lone surrogates and invalid UTF-8, as ``orjson`` does.

The structs are left out of the cyclic collector (``gc=False``: they hold no
cycles), which would otherwise count and walk a few of them per row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
import orjson
from msgspec import UNSET, Meta, UnsetType

from upload_preds.convert.checks import INT_MAX, INT_MIN
from upload_preds.convert.shapes import check_bbox

if TYPE_CHECKING:
    from upload_preds.convert.seqlines import FrameRules

__all__ = ["RowDecoder"]

_Track = Annotated[int, Meta(gt=0, le=INT_MAX)]
_Frame = Annotated[int, Meta(ge=0, le=INT_MAX)]
# A number as the full path takes it without a word: an int in the 64-bit range or
# a float within it (the box corners' inline rules; a score's range is checked below).
_Num = Annotated[int, Meta(ge=INT_MIN, le=INT_MAX)] | Annotated[float, Meta(ge=INT_MIN, le=INT_MAX)]
_Score = Annotated[int, Meta(ge=INT_MIN, le=INT_MAX)] | float


class _Ann(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One annotation of the common row: its keys and their types, nothing else."""

    track_id: _Track
    bbox: tuple[_Num, _Num, _Num, _Num]
    category: str | UnsetType = UNSET
    category_id: int | UnsetType = UNSET
    score: _Score | UnsetType = UNSET
    is_keyframe: bool | UnsetType = UNSET
    frame: _Frame | UnsetType = UNSET
    type: Literal["bbox"] | UnsetType = UNSET


class _Row(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The common row: a sample by uuid, maybe a frame, and its annotations."""

    sample_uuid: str
    annotations: list[_Ann]
    frame: _Frame | UnsetType = UNSET


class RowDecoder:
    """Decodes and checks the common row of one run's :class:`FrameRules` (image boxes)."""

    def __init__(self, rules: FrameRules) -> None:
        fctx = rules.frame_ctx
        self._names: dict[str, int] = fctx.names
        self._ids: Any = fctx.ids
        self._fmt: str = fctx.fmt
        self._decode = msgspec.json.Decoder(_Row).decode

    def decode(self, line: bytes) -> tuple[str, bytes] | None:
        """``(sample_uuid, compact objects as JSON)`` of a line (the objects
        :func:`.seqfast.fast_objects` makes of it, encoded), or ``None``."""
        got = self.objects(line)
        return None if got is None else (got[0], orjson.dumps(got[1]))

    def objects(self, line: bytes) -> tuple[str, list[Any]] | None:
        """``(sample_uuid, compact objects)`` of a line (the flat list
        :func:`.seqfast.fast_objects` makes of it), or ``None``."""
        try:
            row = self._decode(line)
        except msgspec.DecodeError:  # (ValidationError is one)
            return None
        row_frame = row.frame
        keys = 2  # sample_uuid, annotations
        if row_frame is not UNSET:
            keys += 1
        names = self._names
        ids = self._ids
        xyxy = self._fmt == "xyxy"
        objs: list[Any] = []  # seqfast.Compact: flat
        for a in row.annotations:
            keys += 3  # track_id, bbox, a category
            cid: Any = a.category_id
            if cid is UNSET:
                cname: Any = a.category
                if cname is UNSET:
                    return None
                cid = names.get(cname)
                if cid is None:
                    return None
            elif a.category is not UNSET or ids is None or cid not in ids:
                return None
            frame = a.frame
            if frame is UNSET:
                if row_frame is UNSET:
                    return None
                frame = row_frame
            else:
                keys += 1
                if row_frame is not UNSET and frame != row_frame:
                    return None
            score: Any = a.score
            if score is UNSET:
                score = None
            else:
                keys += 1
                if not -_INF < score < _INF:  # (an int is in range: its type says so)
                    return None
            keyframe = a.is_keyframe
            if keyframe is UNSET:
                keyframe = True
            else:
                keys += 1
            if a.type is not UNSET:
                keys += 1
            box: Any = a.bbox
            if xyxy:
                # check_bbox's xyxy rules for four numbers in the int range; a box in
                # order (the common case) is kept as it is.
                x0, y0, x1, y1 = box
                if not (x0 < x1 and y0 < y1):
                    if x0 == x1 or y0 == y1:
                        return None
                    box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            else:
                corners = check_bbox(list(box), self._fmt)
                if isinstance(corners, tuple):
                    return None
                box = (*corners[0], *corners[1])
            objs += (frame, a.track_id, keyframe, score, cid)
            objs += box
        if line.count(b":") != keys:
            return None  # a key given twice (or a colon in a string): the full way
        return row.sample_uuid, objs


_INF = float("inf")

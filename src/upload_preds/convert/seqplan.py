"""A sequence label for the dry run's plan, from compact lines, without building it.

The pipeline checks the common tracker row when it reads it
(:func:`.seqfast.fast_objects`) and groups only its compact objects
(``frame, track, is_keyframe, score, category_id`` and a box, flat), with the raw row
kept unparsed beside them (:mod:`upload_preds.seqgroups`). When every line of a
label came that way, the dry run needs no label object: :func:`plan_sequence`
runs the label's cross-line rules over the compact objects (frame in range, a
track keeps its category, an object (frame, track) given once), applies
``--min-score`` and derives the label score in the same order as
:func:`.sequences.assemble`, and returns a
:class:`~upload_preds.records.PlannedLabelJob` that carries what the plan counts
(the kept objects' category ids) and builds the real label only if someone reads
its ``attributes`` (by :func:`.sequences.assemble`, the upload's code).

It answers only for a label that passes: at the first broken rule it returns
``None`` and the caller converts the label the full way
(:func:`.sequences.convert_sequence` over the raw rows), which finds and words
every error (and ``--on-duplicate last`` supersessions) exactly as the upload.
"""

from __future__ import annotations

from itertools import chain
from operator import itemgetter
from typing import Any

import orjson

from upload_preds.convert.checks import INT_MAX, derive_score
from upload_preds.convert.seqfast import Compact, compact_line, objects
from upload_preds.convert.seqlines import FrameRules
from upload_preds.convert.sequences import Assembled, assemble
from upload_preds.records import Location, PlannedLabelJob

__all__ = ["plan_sequence"]

_LOC = itemgetter(0)
_OBJECTS = itemgetter(1)

# (frame, track) as one int: frame * _TRACKS + track (track ids are <= INT_MAX).
_TRACKS = INT_MAX + 1

Source = tuple[FrameRules, list[tuple[Location, Compact]], int | None]


def _build(source: Source, loc: Location) -> dict[str, Any]:
    """The label of a planned job, built when its attributes are read."""
    rules, lines, frames = source
    result = assemble(rules, [compact_line(at, objs) for at, objs in lines], frames)
    assert isinstance(result, Assembled), "plan_sequence() checked the lines"
    return result.label


def plan_sequence(
    rules: FrameRules,
    key: str,
    lines: list[tuple[Location, Compact]],
    frames: int | None,
) -> PlannedLabelJob | None:
    """The planned label of one (label set, sample) whose lines (in input order) are all
    compact, or ``None`` when a rule across lines fails (the full path reports it).

    ``frames`` is the sample's frame count (``None``: the highest index + 1); the
    job's ``extra["frames_guessed"]`` says so, as the full path's does."""
    ctx = rules.ctx
    limit = frames if frames is not None else _TRACKS
    category: dict[int, Any] = {}
    first_category = category.setdefault
    seen: set[int] = set()
    add_seen = seen.add
    min_score = ctx.min_score
    kept: list[Any] = []  # the kept objects' category ids, for the plan's counts
    keep = kept.append
    scores: list[float] = []
    filtered = 0
    any_score = False
    top = -1
    # Every object of the label in input order, in one iterator (in C: a call per line
    # was a tenth of the plan).
    every = objects(chain.from_iterable(map(_OBJECTS, lines)))
    for frame, track, _keyframe, score, cid, _x0, _y0, _x1, _y1 in every:
        if frame >= limit or first_category(track, cid) != cid:
            return None
        at = frame * _TRACKS + track
        if at in seen:
            return None
        add_seen(at)
        if frame > top:
            top = frame
        if score is not None:
            any_score = True
            if min_score is not None and score < min_score:
                filtered += 1
                continue
            scores.append(score)
        keep(cid)
    labelset, ref_kind, ref = orjson.loads(key)
    score = derive_score(scores, ctx.options.score_from)
    job = PlannedLabelJob(
        sample_uuid=ref if ref_kind == "u" else None,
        sample_name=ref if ref_kind == "n" else None,
        labelset=labelset,
        label_status=ctx.options.label_status,
        score=score,
        locs=tuple(map(_LOC, lines)),
        filtered_annotations=filtered,
        object_scores_dropped=ctx.osa is None and any_score,
        score_derived=score is not None,
        plan_type="bbox",
        plan_categories=kept,
        source=(_build, (rules, lines, frames), lines[0][0]),
    )
    if frames is None:
        job.extra["frames_guessed"] = top + 1
    return job

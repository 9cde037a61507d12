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

from itertools import chain, compress
from operator import itemgetter
from typing import Any

import orjson

from upload_preds.convert.checks import derive_score
from upload_preds.convert.seqfast import FIELDS, Compact, compact_line
from upload_preds.convert.seqlines import FrameRules
from upload_preds.convert.sequences import Assembled, assemble
from upload_preds.records import Location, PlannedLabelJob

__all__ = ["plan_sequence"]

_LOC = itemgetter(0)
_OBJECTS = itemgetter(1)

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
    # Every object of the label in input order, one flat list, and each field as its
    # own list (slices): the rules below are then C loops over them (set, zip, max),
    # not Python statements per object (a loop over the objects was most of the plan).
    flat = list(chain.from_iterable(map(_OBJECTS, lines)))
    frame_of = flat[0::FIELDS]
    track_of = flat[1::FIELDS]
    score_of = flat[3::FIELDS]
    category_of = flat[4::FIELDS]
    del flat
    top = max(frame_of, default=-1)  # (-1: no objects, as lines with none)
    if frames is not None and top >= frames:
        return None  # a frame out of range
    if len(set(zip(frame_of, track_of, strict=True))) != len(frame_of):
        return None  # an object (frame, track) given twice
    if len(set(zip(track_of, category_of, strict=True))) != len(set(track_of)):
        return None  # a track that changes category
    min_score = ctx.min_score
    any_score = score_of.count(None) != len(score_of)
    filtered = 0
    if min_score is not None and any_score:
        # --min-score drops an object whose score is below it (no score: kept).
        keep = [s is None or s >= min_score for s in score_of]
        kept = list(compress(category_of, keep))
        score_of = list(compress(score_of, keep))
        filtered = len(category_of) - len(kept)
    else:
        kept = category_of
    scores = [s for s in score_of if s is not None] if any_score else []
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

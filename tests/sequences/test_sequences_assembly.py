"""Assembly keeps its output: the label, score and counts are those the previous,
slower ``assemble`` made, for every shape of input.

``_reference_assemble`` is the pre-optimisation implementation, kept here as the
oracle. Inputs are real rows checked by ``check_line``: boxes (fast path and full
path), cuboids, 3-D shapes, frames given twice with ``--on-duplicate last``,
``--min-score``, keyframes false, frames without objects, image attributes and an
unknown frame count; every label is also validated by the official SDK's model.
"""

from __future__ import annotations

import random
from operator import attrgetter
from typing import Any

import orjson
import pytest
import segments.typing as st

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.convert.checks import INT_MAX, derive_score
from upload_preds.convert.seqlines import R_TRACK, FrameRules, Line, Obj, check_line
from upload_preds.convert.sequences import (
    R_DUPLICATE_OBJECT,
    Assembled,
    _name,
    _out_of_range,
    assemble,
)
from upload_preds.records import Location, Record, RowError

_TRACK = attrgetter("track")


def _reference_assemble(
    rules: FrameRules,
    lines: list[Line],
    frames: int | None,
    on_duplicate: str = "error",
) -> Assembled | dict[int, RowError]:
    """The assembly as it was before it was made faster (kept as the oracle)."""
    bad: dict[int, RowError] = {}
    ctx = rules.ctx
    limit = frames if frames is not None else INT_MAX + 1
    # One pass: frame range, a track keeps its category, an object (frame, track) once.
    category: dict[int, tuple[Any, int]] = {}
    seen: dict[tuple[int, int], Any] = {}  # (frame, track) → line, or (line, object)
    superseded_by: dict[int, int] = {}
    dead: set[tuple[int, int]] = set()  # (line, object) positions superseded
    keep_last = on_duplicate == "last"
    for n, line in enumerate(lines):
        k = -1
        for o in line.objects:
            k += 1
            frame = o.frame
            track = o.track
            if frame >= limit:
                bad.setdefault(n, _out_of_range(line.loc, o.where, frame, limit))
            cid = o.out.get("category_id")
            first = category.get(track)
            if first is None:
                category[track] = (cid, n)
            elif first[0] != cid:
                bad.setdefault(
                    n,
                    RowError(
                        line.loc,
                        f"{o.where}.category_id" if o.where else "category",
                        R_TRACK,
                        f"track {track} changes category: category id {cid} here, "
                        f"{first[0]} at {_name(line.loc, lines[first[1]].loc)}; a track keeps "
                        "one category in every frame",
                    ),
                )
            at = (frame, track)
            prev = seen.get(at)
            if prev is not None:
                if keep_last:
                    dead.add(prev)
                    superseded_by[prev[0]] = n
                else:
                    bad.setdefault(
                        n,
                        RowError(
                            line.loc,
                            f"{o.where}.track_id" if o.where else "track_id",
                            R_DUPLICATE_OBJECT,
                            f"track {track} in frame {frame} is already given at "
                            f"{_name(line.loc, lines[prev].loc)}; give each object once "
                            "per frame, or pass --on-duplicate last to keep the last one",
                        ),
                    )
            # Which line has it; with keep_last also which object (to drop it).
            seen[at] = (n, k) if keep_last else n
        at_frame = line.image_attributes
        if at_frame is not None and at_frame[0] >= limit:
            bad.setdefault(n, _out_of_range(line.loc, "", at_frame[0], limit))
    if bad:
        return bad
    count = frames
    if count is None:
        top = -1
        for line in lines:
            for o in line.objects:
                top = max(top, o.frame)
            if line.image_attributes is not None:
                top = max(top, line.image_attributes[0])
        count = top + 1
    per_frame: list[list[Obj]] = [[] for _ in range(count)]
    attrs: list[dict[str, Any] | None] = [None] * count
    min_score = ctx.min_score
    kept_scores: list[float] = []
    filtered = 0
    any_score = False
    superseded: list[tuple[Location, Location]] = []
    for n, line in enumerate(lines):
        live = 0
        for k, o in enumerate(line.objects):
            if dead and (n, k) in dead:
                continue
            live += 1
            if o.score is not None:
                any_score = True
                if min_score is not None and o.score < min_score:
                    filtered += 1
                    continue
                kept_scores.append(o.score)
            per_frame[o.frame].append(o)
        if line.image_attributes is not None:
            f, ia = line.image_attributes
            attrs[f] = {**(attrs[f] or {}), **ia}
        if line.objects and not live and n in superseded_by:
            superseded.append((line.loc, lines[superseded_by[n]].loc))
    fv = "0.2" if rules.frame_kind.startswith("pointcloud") else "0.1"
    out_frames: list[dict[str, Any]] = []
    for f in range(count):
        objs = per_frame[f]
        if len(objs) > 1:
            objs.sort(key=_TRACK)
        entry: dict[str, Any] = {
            "format_version": fv,
            "annotations": [o.out for o in objs],
        }
        if attrs[f] is not None:
            entry["image_attributes"] = attrs[f]
        out_frames.append(entry)
    return Assembled(
        {"format_version": fv, "frames": out_frames},
        derive_score(kept_scores, ctx.options.score_from),
        filtered,
        ctx.osa is None and any_score,
        superseded,
        kept_scores,
    )


NAMES = ["car", "person", "bike"]
SDK_MODELS: dict[str, type[Any]] = {
    "image-vector-sequence": st.ImageSequenceVectorLabelAttributes,
    "pointcloud-cuboid-sequence": st.PointcloudSequenceCuboidLabelAttributes,
    "pointcloud-vector-sequence": st.PointcloudSequenceVectorLabelAttributes,
}


def _rules(task_type: str, **options: Any) -> FrameRules:
    cats = Categories([(i + 1, n) for i, n in enumerate(NAMES)], task_type)
    rules = Converter(ConvertOptions(**options), cats).sequence
    assert rules is not None
    return rules


def _shape(task_type: str, rng: random.Random, f: int, t: int) -> dict[str, Any]:
    x = float(t * 10 + f)
    if task_type == "image-vector-sequence":
        # Integers and floats: whole-number boxes take the fast path, others do not.
        return {"bbox": [x, 4.5, x + rng.choice([5, 7.25]), 30]}
    if task_type == "pointcloud-cuboid-sequence":
        return {
            "type": "cuboid",
            "position": [x, 1.0, 0.5],
            "dimensions": [4, 2, 1.5],
            "yaw": rng.choice([0, 0.3]),
        }
    kind = rng.choice(["point", "polyline", "polygon", "cuboid"])
    if kind == "cuboid":
        return {"type": kind, "position": [x, 0, 0], "dimensions": [1, 1, 1], "yaw": 0}
    if kind == "point":
        return {"type": kind, "points": [[x, 1, 2]]}
    return {"type": kind, "points": [[x, 0, 0], [x + 1, 0, 0], [x + 1, 1, 0]]}


def _rows(task_type: str, seed: int, frames: int, tracks: int, dup: bool) -> list[dict[str, Any]]:
    """Rows of one sample: a row per frame (some frames without one, some given twice
    when ``dup``), and a few rows giving each annotation its own ``frame``."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for f in range(frames):
        if rng.random() < 0.15:  # a gap: the frame has no objects
            continue
        anns = []
        for t in rng.sample(range(1, tracks + 1), rng.randint(0, tracks)):
            ann: dict[str, Any] = {"category": NAMES[t % 3], "track_id": t}
            ann.update(_shape(task_type, rng, f, t))
            if rng.random() < 0.6:
                ann["score"] = rng.choice([0.1, 0.45, 0.5, 0.9, 1])
            if rng.random() < 0.2:
                ann["is_keyframe"] = False
            anns.append(ann)
        if rng.random() < 0.2:
            for a in anns:
                a["frame"] = f
            rows.append({"sample_uuid": "u", "annotations": anns})
        else:
            rows.append({"sample_uuid": "u", "frame": f, "annotations": anns})
        if dup and anns and rng.random() < 0.3:  # the frame again, some objects moved
            keep = ("category", "track_id", "score", "is_keyframe", "frame")
            again = [
                {k: a[k] for k in keep if k in a} | _shape(task_type, rng, f + 1, a["track_id"])
                for a in anns[:2]
            ]
            rows.append({"sample_uuid": "u", "frame": f, "annotations": again})
    rng.shuffle(rows)
    return rows


def _lines(rules: FrameRules, rows: list[dict[str, Any]]) -> list[Line]:
    lines = []
    for n, row in enumerate(rows):
        line = check_line(rules, Record(Location("s.jsonl", n + 1), "jsonl", row))
        assert isinstance(line, Line), line
        lines.append(line)
    return lines


def _same(rules: FrameRules, lines: list[Line], frames: int | None, on_dup: str) -> Any:
    new = assemble(rules, lines, frames, on_dup)
    old = _reference_assemble(rules, lines, frames, on_dup)
    if isinstance(old, dict):
        assert isinstance(new, dict)
        assert {n: str(e) for n, e in new.items()} == {n: str(e) for n, e in old.items()}
        return None
    assert isinstance(new, Assembled)
    assert orjson.dumps(new.label) == orjson.dumps(old.label)
    assert (new.score, new.filtered, new.dropped) == (old.score, old.filtered, old.dropped)
    assert new.superseded == old.superseded
    assert new.kept_scores == old.kept_scores
    return new


@pytest.mark.parametrize("task_type", sorted(SDK_MODELS))
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"min_score": 0.5},
        {"min_score": 0.5, "object_score_attribute": "confidence", "score_from": "mean"},
        {"score_from": "max"},
    ],
    ids=["plain", "min-score", "score-attribute", "score-max"],
)
@pytest.mark.parametrize("seed", range(4))
def test_labels_are_those_the_previous_assembly_made(
    task_type: str, options: dict[str, Any], seed: int
) -> None:
    rules = _rules(task_type, **options)
    frames = 12
    for on_dup in ("error", "last"):
        lines = _lines(rules, _rows(task_type, seed, frames, 6, dup=on_dup == "last"))
        for count in (frames, None):
            new = _same(rules, lines, count, on_dup)
            assert new is not None
            SDK_MODELS[task_type].model_validate(new.label)
        if on_dup == "last":
            # The same rows without --on-duplicate last: the duplicate errors agree.
            _same(rules, lines, frames, "error")


def _box(frame: int, *objects: tuple[str, int]) -> dict[str, Any]:
    anns = [{"category": c, "bbox": [1, 2, 3, 4], "track_id": t} for c, t in objects]
    return {"sample_uuid": "u", "frame": frame, "annotations": anns}


def test_errors_are_those_the_previous_assembly_gave() -> None:
    """Out of range, a track changing category (also on a line out of range), an
    object given twice: the same first error per line, worded the same."""
    rules = _rules("image-vector-sequence")
    rows = [
        _box(9, ("car", 1)),
        _box(0, ("bike", 1)),
        _box(0, ("bike", 1), ("car", 3)),
        _box(1, ("car", 2)),
        _box(12, ("person", 2), ("car", 1)),
        _box(2, ("car", 3), ("person", 3)),
    ]
    lines = _lines(rules, rows)
    for on_dup in ("error", "last"):
        assert _same(rules, lines, 5, on_dup) is None
    assert isinstance(_same(rules, lines[1:4], 5, "last"), Assembled)

"""``sequences.assemble`` has two ways: one pass for a label that breaks no rule
(``_assemble_passing``) and the checked way that finds, words and resolves every
broken rule (``_assemble_checked``). They must give byte-identical labels and the
same counts whenever the one-pass way answers, and the one-pass way must decline
exactly when the checked way finds an error."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.convert.seqfast import Line, Obj
from upload_preds.convert.seqlines import FrameRules
from upload_preds.convert.sequences import (
    Assembled,
    _assemble_checked,
    _assemble_passing,
    assemble,
)
from upload_preds.records import Location

NAMES = ["car", "person", "bike"]


def _rules(task_type: str, **options: Any) -> FrameRules:
    cats = Categories([(i + 1, n) for i, n in enumerate(NAMES)], task_type)
    rules = Converter(ConvertOptions(**options), cats).sequence
    assert isinstance(rules, FrameRules)
    return rules


def _obj(frame: int, track: int, cid: int, score: float | None, kf: bool, k: int) -> Obj:
    out = {
        "id": track,
        "category_id": cid,
        "type": "bbox",
        "points": [[frame, track], [frame + 5.5, track + 2]],
        "track_id": track,
        "is_keyframe": kf,
    }
    return Obj(frame, track, kf, score, out, k)


_objects = st.lists(
    st.tuples(
        st.integers(0, 6),  # frame (the count is 5 or 7, or unknown)
        st.integers(1, 4),  # track
        st.integers(1, 3),  # category id: a track may change it
        st.none() | st.sampled_from([0.1, 0.45, 0.5, 0.9]),
        st.booleans(),
    ),
    max_size=5,
)
_lines = st.lists(
    st.tuples(_objects, st.none() | st.tuples(st.integers(0, 6), st.sampled_from(["a", "b"]))),
    min_size=1,
    max_size=8,
)


def _make(spec: list[Any]) -> list[Line]:
    lines = []
    for n, (objs, at) in enumerate(spec):
        attrs = (at[0], {at[1]: n}) if at is not None else None
        lines.append(
            Line(
                Location("p.jsonl", n + 1),
                [_obj(*o, k) for k, o in enumerate(objs)],
                attrs,
            )
        )
    return lines


@settings(max_examples=400, deadline=None)
@given(
    spec=_lines,
    frames=st.sampled_from([None, 5, 7]),
    task_type=st.sampled_from(["image-vector-sequence", "pointcloud-cuboid-sequence"]),
    min_score=st.sampled_from([None, 0.5]),
    score_from=st.sampled_from(["mean", "max", "min"]),
    osa=st.sampled_from([None, "score"]),
)
def test_the_one_pass_way_gives_the_checked_ways_label(
    spec: list[Any],
    frames: int | None,
    task_type: str,
    min_score: float | None,
    score_from: str,
    osa: str | None,
) -> None:
    rules = _rules(
        task_type, min_score=min_score, score_from=score_from, object_score_attribute=osa
    )
    fast = _assemble_passing(rules, _make(spec), frames)
    checked = _assemble_checked(rules, _make(spec), frames, "error")
    if fast is None:
        assert isinstance(checked, dict), "declined a label that passes"
        assert checked
        return
    assert isinstance(checked, Assembled), "built a label that breaks a rule"
    assert orjson.dumps(fast.label) == orjson.dumps(checked.label)
    assert (fast.score, fast.filtered, fast.dropped, fast.kept_scores) == (
        checked.score,
        checked.filtered,
        checked.dropped,
        checked.kept_scores,
    )
    assert fast.superseded == checked.superseded == []


def test_assemble_takes_the_checked_way_for_errors_and_on_duplicate_last() -> None:
    rules = _rules("image-vector-sequence")
    twice = [([(0, 1, 1, None, True)], None), ([(0, 1, 1, None, True)], None)]
    errors = assemble(rules, _make(twice), 3)
    assert isinstance(errors, dict)
    assert "already given at line 1" in errors[1].message
    last = assemble(rules, _make(twice), 3, "last")
    assert isinstance(last, Assembled)
    assert last.superseded == [(Location("p.jsonl", 1), Location("p.jsonl", 2))]
    assert [len(f["annotations"]) for f in last.label["frames"]] == [1, 0, 0]


def test_a_frames_objects_come_out_by_track_whatever_the_input_order() -> None:
    rules = _rules("image-vector-sequence")
    shuffled = [
        ([(1, 3, 1, None, True), (1, 1, 2, None, True)], None),
        ([(1, 2, 1, None, False)], None),
    ]
    label = assemble(rules, _make(shuffled), 2)
    assert isinstance(label, Assembled)
    frame = label.label["frames"][1]["annotations"]
    assert [a["track_id"] for a in frame] == [1, 2, 3]
    assert label.label["frames"][0] == {"format_version": "0.1", "annotations": []}

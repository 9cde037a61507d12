"""The dry run's plan of a sequence label (``seqplan.plan_sequence``) checks its rules over
whole columns of the label's objects (frames, tracks, scores, categories) rather than
object by object. It must still answer exactly for the labels the full way accepts, with
the same counts, score and categories: rows of several objects or none, every
``--score-from``, with and without ``--min-score``, frames known or guessed."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from seqkit import CATEGORIES, planned_and_full, sdk_model

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.records import LabelJob

CATS = Categories([(c["id"], c["name"]) for c in CATEGORIES], "image-vector-sequence")
NAMES = [c["name"] for c in CATEGORIES]

_ann = st.fixed_dictionaries(
    {
        "category": st.sampled_from(NAMES[:2]),
        "bbox": st.sampled_from([[1, 2, 6.5, 9.25], [0.5, 0, 3, 4]]),
        "track_id": st.integers(1, 3),
    },
    optional={"score": st.sampled_from([0.1, 0.5, 0.9, 1, 0])},
)
# Rows of one sample: a row frame, and zero to three objects (an object may carry the
# row's frame again); the rules across lines break often (tracks and frames are few).
_rows = st.lists(
    st.builds(
        lambda frame, anns: {"sample_uuid": "u", "frame": frame, "annotations": anns},
        st.integers(0, 5),
        st.lists(_ann, max_size=3),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=400, deadline=None)
@given(
    rows=_rows,
    frames=st.sampled_from([None, 4, 6]),
    min_score=st.sampled_from([None, 0.5]),
    score_from=st.sampled_from(["mean", "max", "min", "none"]),
)
def test_the_plan_over_columns_answers_as_the_full_way(
    rows: list[dict[str, Any]], frames: int | None, min_score: float | None, score_from: Any
) -> None:
    conv = Converter(ConvertOptions(min_score=min_score, score_from=score_from), CATS)
    rules = conv.sequence
    assert rules is not None
    planned, full = planned_and_full(rules, rows, frames)
    if planned is None:
        return
    assert isinstance(full, LabelJob)
    for field in ("score", "locs", "filtered_annotations", "object_scores_dropped"):
        assert getattr(planned, field) == getattr(full, field), field
    assert planned.score_derived == full.score_derived
    assert planned.extra.get("frames_guessed") == full.extra.get("frames_guessed")
    counted = Counter(a["category_id"] for f in full.attributes["frames"] for a in f["annotations"])
    assert Counter(planned.plan_categories) == counted
    assert orjson.dumps(planned.attributes) == orjson.dumps(full.attributes)
    sdk_model("image-vector-sequence", planned.attributes)

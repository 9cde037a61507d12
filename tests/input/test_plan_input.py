"""The plan's annotation counts (``Tally``) for every label shape, and taking a label back.

``Tally.add`` counts annotations with C helpers that stop at the first
annotation without the key they read; the rest are then counted the slow way.
Each case compares with a plain reference count: every annotation object of
the label (top level, frames, sensors) by ``type`` (default ``segment``) and by
integer ``category_id``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from upload_preds.plan import Tally, iter_annotations
from upload_preds.records import LabelJob, Location


def job(attributes: dict[str, Any], *, name: str | None = None, filtered: int = 0) -> LabelJob:
    return LabelJob(
        sample_uuid=None if name else "u1",
        sample_name=name,
        labelset="preds",
        label_status="PRELABELED",
        attributes=attributes,
        score=None,
        locs=(Location("p.jsonl", 1),),
        filtered_annotations=filtered,
        object_scores_dropped=bool(filtered),
    )


def box(cid: Any, kind: str | None = "bbox") -> dict[str, Any]:
    a: dict[str, Any] = {"id": 1, "category_id": cid, "points": [[0, 0], [1, 1]]}
    if kind is not None:
        a["type"] = kind
    return a


# (id, attributes)
LABELS: list[tuple[str, dict[str, Any]]] = [
    ("flat boxes", {"annotations": [box(1), box(2), box(1, "polygon")]}),
    ("no annotations", {"annotations": []}),
    ("segmentation bitmap, no types", {"annotations": [box(1, None), box(3, None)]}),
    ("a type missing in the middle", {"annotations": [box(1), box(2), box(2, None), box(5)]}),
    ("a category id missing", {"annotations": [box(1), {"id": 2, "type": "point"}, box(2)]}),
    ("a non-integer category id", {"annotations": [box("car"), box(2)]}),
    (
        "frames",
        {"frames": [{"annotations": [box(1), box(2)]}, {"annotations": [box(1, None)]}]},
    ),
    (
        "sensors",
        {
            "sensors": [
                {"name": "cam", "attributes": {"annotations": [box(4)]}},
                {"name": "lidar", "attributes": {"frames": [{"annotations": [box(4, "cuboid")]}]}},
            ]
        },
    ),
]


def reference(labels: list[dict[str, Any]]) -> tuple[Counter[str], Counter[int]]:
    types: Counter[str] = Counter()
    cats: Counter[int] = Counter()
    for attrs in labels:
        for a in iter_annotations(attrs):
            types[str(a.get("type", "segment"))] += 1
            if isinstance(a.get("category_id"), int):
                cats[a["category_id"]] += 1
    return types, cats


@pytest.mark.parametrize("attributes", [c[1] for c in LABELS], ids=[c[0] for c in LABELS])
def test_tally_counts_every_annotation_by_type_and_category(attributes: dict[str, Any]) -> None:
    tally = Tally()
    tally.add(job({"annotations": [box(9), box(9, "point")]}))
    tally.add(job(attributes, name="a.jpg", filtered=2))
    types, cats = reference([{"annotations": [box(9), box(9, "point")]}, attributes])
    assert tally.annotations_by_type == types
    assert tally.annotations_by_category == cats
    assert tally.annotation_count == sum(types.values())
    assert (tally.rows, tally.label_count, tally.unresolved_names) == (2, 2, 1)
    assert (tally.filtered_annotations, tally.object_scores_dropped) == (2, 1)


@pytest.mark.parametrize("attributes", [c[1] for c in LABELS], ids=[c[0] for c in LABELS])
def test_tally_remove_takes_back_exactly_one_label(attributes: dict[str, Any]) -> None:
    kept = job({"annotations": [box(1), box(7, "polyline")]})
    tally = Tally()
    tally.add(kept)
    tally.add(job(attributes, name="a.jpg", filtered=3))
    tally.remove(job(attributes, name="a.jpg", filtered=3))
    alone = Tally()
    alone.add(kept)
    assert tally.annotations_by_type == alone.annotations_by_type
    assert tally.annotations_by_category == alone.annotations_by_category
    assert dict(tally.labels) == dict(alone.labels)
    assert (tally.rows, tally.unresolved_names, tally.filtered_annotations) == (1, 0, 0)
    assert tally.object_scores_dropped == 0
    # No zero entries are left behind for the plan to list.
    assert 0 not in tally.annotations_by_type.values()
    assert 0 not in tally.annotations_by_category.values()

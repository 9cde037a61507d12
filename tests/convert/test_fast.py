"""Property tests (hypothesis): whatever a row holds, the converter either emits a
label that the official SDK accepts unchanged, or row errors with a location;
never an exception. The fast path agrees with the full path wherever it answers.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from convkit import DATA, SDK_MODELS, record, sdk_check_job
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.convert.converter import convert_row
from upload_preds.convert.csvrows import csv_annotation
from upload_preds.convert.fast import csv_fast, fast_label
from upload_preds.records import LabelJob, Location, PlannedLabelJob, RowError

FULL_LABELS: dict[str, Any] = json.loads((DATA / "full_labels.json").read_text())
CATS = Categories([(1, "car"), (2, "truck"), (3, "Road")])
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", "car", "Car", "road", "bbox", "polygon", "cuboid", "x/y", "1", "0.5"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
numbers = st.one_of(
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False),
    st.integers(min_value=-100, max_value=100),
    st.sampled_from([float("nan"), float("inf"), True, "3"]),
)
point = st.lists(numbers, min_size=1, max_size=3)
attr_maps = st.dictionaries(
    st.sampled_from(["occluded", "confidence", "tags", "n"]),
    st.one_of(scalars, st.lists(st.sampled_from(["a", "b"]), max_size=2), json_values),
    max_size=3,
)


@st.composite
def annotations(draw: st.DrawFn) -> Any:
    """An annotation that is usually almost right and sometimes garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    t = draw(
        st.sampled_from([None, "bbox", "bbox", "polygon", "polyline", "point", "cuboid", "box"])
    )
    a: dict[str, Any] = {} if t is None else {"type": t}
    choice = draw(st.integers(0, 3))
    if choice == 0:
        a["category_id"] = draw(st.one_of(st.integers(0, 4), scalars))
    elif choice == 1:
        a["category"] = draw(st.sampled_from(["car", "CAR", "road", "bus", ""]))
    elif choice == 2:
        a["category"] = "truck"
        a["category_id"] = 2
    if t == "cuboid":
        for key, n in (("position", 3), ("dimensions", 3), ("rotation", 4)):
            if draw(st.booleans()):
                a[key] = draw(st.lists(numbers, min_size=n - 1, max_size=n + 1))
        if draw(st.booleans()):
            a["yaw"] = draw(numbers)
    elif draw(st.booleans()):
        a["bbox"] = draw(st.lists(numbers, min_size=3, max_size=5))
    else:
        a["points"] = draw(st.lists(point, max_size=4))
    if draw(st.booleans()):
        a["score"] = draw(st.one_of(st.floats(0, 1), numbers))
    if draw(st.integers(0, 3)) == 0:
        a["attributes"] = draw(attr_maps)
    if draw(st.integers(0, 4)) == 0:
        a["id"] = draw(st.one_of(st.integers(-1, 4), scalars))
    if draw(st.integers(0, 9)) == 0:
        a[draw(st.sampled_from(["conf", "label", "points", "yaw"]))] = draw(scalars)
    return a


@st.composite
def rows(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 14)) == 0:
        return draw(json_values)
    row: dict[str, Any] = {}
    ref = draw(st.integers(0, 5))
    if ref in (0, 1, 2):
        row["sample_uuid"] = draw(st.sampled_from(["u-1", "u-2", "", "a/b"]))
    if ref in (2, 3, 4):
        row["sample_name"] = draw(st.sampled_from(["img.jpg", " ", 7]))
    if draw(st.booleans()):
        if draw(st.integers(0, 2)) == 0:
            base = draw(st.sampled_from(sorted(FULL_LABELS)))
            row["attributes"] = _mutate(draw, FULL_LABELS[base])
        else:
            row["attributes"] = draw(json_values)
    if "attributes" not in row or draw(st.integers(0, 9)) == 0:
        row["annotations"] = draw(st.lists(annotations(), max_size=5))
        if draw(st.integers(0, 3)) == 0:
            row["image_attributes"] = draw(attr_maps)
    for key, values in (
        ("labelset", st.sampled_from(["preds", "", "a/b", 3])),
        ("score", st.one_of(st.floats(0, 1), numbers)),
        ("label_status", st.sampled_from(["LABELED", "done", None])),
        ("extra", scalars),
    ):
        if draw(st.integers(0, 5)) == 0:
            row[key] = draw(values)
    return row


def _mutate(draw: st.DrawFn, label: Any) -> Any:
    """A complete label, sometimes with one value replaced or one key added."""
    out = json.loads(json.dumps(label))
    if draw(st.booleans()):
        return out
    node: Any = out
    for _ in range(draw(st.integers(0, 6))):
        if isinstance(node, dict) and node:
            node = node[draw(st.sampled_from(sorted(node)))]
        elif isinstance(node, list) and node:
            node = node[draw(st.integers(0, len(node) - 1))]
        else:
            break
    if isinstance(node, dict):
        key = draw(st.sampled_from([*sorted(node), "bogus"]))
        node[key] = draw(json_values)
    elif isinstance(node, list):
        node.append(draw(json_values))
    return out


def _check_label(job: LabelJob, from_attributes: bool) -> None:
    # JSON-encodable (what the uploader sends) and accepted by the SDK unchanged.
    orjson.dumps(job.body())
    assert job.label_status in {"PRELABELED", "LABELED"}
    assert (job.sample_uuid is None) != (job.sample_name is None)
    if not from_attributes:
        sdk_check_job(job)
        return
    accepted = []
    for kind, model in SDK_MODELS.items():
        try:
            dumped = model.model_validate(job.attributes).model_dump(
                mode="json", exclude_unset=True
            )
        except Exception:  # the SDK's ValidationError: this kind does not fit
            continue
        if dumped == job.attributes:
            accepted.append(kind)
    assert accepted, job.attributes


# Every --score-from rule: the default (mean), and max, min and none, so the fast
# path's label score is checked against the full path's for each.
OPTIONS = [
    ConvertOptions(),
    ConvertOptions(
        bbox_format="xywh", min_score=0.5, score_from="mean", object_score_attribute="confidence"
    ),
    ConvertOptions(min_score=0.3, score_from="max"),
    ConvertOptions(score_from="min"),
    ConvertOptions(score_from="none"),
]
WHICH = st.integers(0, len(OPTIONS) - 1)


@SETTINGS
@given(row=rows(), which=WHICH, with_categories=st.booleans())
def test_any_row_converts_or_fails_with_a_location(
    row: Any, which: int, with_categories: bool
) -> None:
    conv = Converter(OPTIONS[which], CATS if with_categories else None)
    rec = record(row, line=42)
    result = conv.convert(rec)
    if isinstance(result, LabelJob):
        assert result.locs == (rec.loc,)
        _check_label(result, isinstance(row, dict) and "attributes" in row)
    else:
        assert result
        for e in result:
            assert isinstance(e, RowError)
            assert e.loc == rec.loc
            assert e.reason
            assert e.message


def _agree(row: Any, which: int) -> None:
    """Where the fast path answers, the full path gives the same label."""
    conv = Converter(OPTIONS[which], CATS)
    loc = Location("f.jsonl", 1)
    fast = fast_label(conv.ctx, row, loc)
    if fast is None:
        return
    full = convert_row(conv.ctx, row, loc)
    assert isinstance(full, LabelJob)
    assert (fast.attributes, fast.score, fast.filtered_annotations) == (
        full.attributes,
        full.score,
        full.filtered_annotations,
    )
    assert (fast.sample_uuid, fast.sample_name, fast.labelset, fast.label_status) == (
        full.sample_uuid,
        full.sample_name,
        full.labelset,
        full.label_status,
    )
    assert fast.object_scores_dropped == full.object_scores_dropped
    assert fast.score_derived == full.score_derived


@SETTINGS
@given(row=rows(), which=WHICH)
def test_fast_path_agrees_with_full_path(row: Any, which: int) -> None:
    _agree(row, which)


@st.composite
def boxes_only(draw: st.DrawFn) -> Any:
    """Rows the fast path is built for, so the agreement test also sees many successes."""
    anns = []
    for _ in range(draw(st.integers(0, 4))):
        a: dict[str, Any] = {
            "bbox": draw(
                st.lists(st.floats(-50, 50).map(lambda f: round(f, 1)), min_size=4, max_size=4)
            )
        }
        if draw(st.booleans()):
            a["category"] = draw(st.sampled_from(["car", "truck", "Road", "road"]))
        else:
            a["category_id"] = draw(st.integers(1, 4))
        if draw(st.booleans()):
            a["score"] = draw(st.floats(0, 1))
        if draw(st.integers(0, 3)) == 0:
            a["attributes"] = {"confidence": draw(st.floats(0, 1)), "occluded": draw(st.booleans())}
        anns.append(a)
    # Both sample keys: a {"sample_uuid", "annotations"} row takes a shortcut.
    ref = draw(st.sampled_from(["sample_name", "sample_uuid"]))
    name = draw(st.sampled_from(["img.jpg", "img.jpg", "img.jpg", " ", "a/b"]))
    row: dict[str, Any] = {ref: name, "annotations": anns}
    if draw(st.booleans()):
        row["score"] = draw(st.floats(0, 1))
    return row


@SETTINGS
@given(row=boxes_only(), which=WHICH)
def test_fast_path_agrees_on_box_rows(row: Any, which: int) -> None:
    _agree(row, which)


def _plan_agrees(row: Any, which: int) -> None:
    """Plan mode (the dry run's) gives every row the verdict convert() gives, and a
    planned label counts and builds exactly as the converted one."""
    conv = Converter(OPTIONS[which], CATS)
    rec = record(row, line=7)
    converted = conv.convert(rec)
    planned = conv.plan(rec)
    if not isinstance(converted, LabelJob):
        assert planned == converted
        return
    assert isinstance(planned, LabelJob)
    fields = ("sample_uuid", "sample_name", "labelset", "label_status", "score", "locs")
    more = ("filtered_annotations", "object_scores_dropped", "score_derived")
    for name in fields + more:
        assert getattr(planned, name) == getattr(converted, name), name
    if isinstance(planned, PlannedLabelJob):
        anns = converted.attributes["annotations"]
        assert planned.plan_categories == [a["category_id"] for a in anns]
        assert {planned.plan_type} >= {a["type"] for a in anns}
    # Built on first use, and then the same label: equal jobs.
    assert planned.attributes == converted.attributes
    assert planned.body() == converted.body()
    assert planned == converted


@SETTINGS
@given(row=rows(), which=WHICH)
def test_plan_mode_agrees_with_convert(row: Any, which: int) -> None:
    _plan_agrees(row, which)


@SETTINGS
@given(row=boxes_only(), which=WHICH)
def test_plan_mode_agrees_on_box_rows(row: Any, which: int) -> None:
    _plan_agrees(row, which)


# --- CSV ------------------------------------------------------------------------------------

cell_text = st.one_of(
    st.sampled_from(
        ["", "1", "2", "car", "bus", "0.5", "nan", "-3", "true", "x", "[[0,0],[1,1]]", "[[0,0]]"]
    ),
    st.floats(-100, 100).map(lambda f: f"{f:.2f}"),
)
columns = st.sampled_from(
    [
        ["sample_uuid", "category", "x0", "y0", "x1", "y1", "score"],
        ["sample_name", "category_id", "type", "points", "id", "attr.occluded"],
        ["sample_uuid", "labelset", "category", "x", "y", "w", "h"],
        ["sample_uuid", "category_id", "type", "position", "dimensions", "yaw", "rotation"],
        ["sample_name", "category", "points", "colour"],
    ]
)


@SETTINGS
@given(
    header=columns,
    lines=st.lists(st.lists(cell_text, min_size=7, max_size=7), min_size=1, max_size=6),
)
def test_any_csv_group_converts_or_fails_every_line(
    header: list[str], lines: list[list[str]]
) -> None:
    conv = Converter(ConvertOptions(score_from="max"), CATS)
    groups: dict[str, list[tuple[Location, dict[str, Any]]]] = {}
    for n, values in enumerate(lines, 2):
        data = dict(zip(header, values, strict=False))
        data.setdefault("sample_uuid" if "sample_uuid" in header else "sample_name", "s1")
        rec = record(data, line=n, fmt="csv", file="p.csv")
        part = conv.csv_part(rec)
        if isinstance(part, RowError):
            assert part.loc == rec.loc
            continue
        key, payload = part
        groups.setdefault(key, []).append((rec.loc, orjson.loads(orjson.dumps(payload))))
    for key, items in groups.items():
        result = conv.convert_group(key, items)
        locs = [loc for loc, _ in items]
        if isinstance(result, LabelJob):
            assert list(result.locs) == locs
            _check_label(result, False)
        else:
            # Every line of the label is covered exactly once.
            assert sorted(e.loc.line for e in result) == sorted(loc.line for loc in locs)


box_cells = st.one_of(
    st.floats(-100, 100).map(lambda f: f"{f:.1f}"),
    st.sampled_from(["", "0", "1e2", " 5", "nan", "-inf", "x", "1_0"]),
)
# Good boxes (x, y, w, h, score), so that the fast path often answers.
good_boxes = st.tuples(
    st.floats(-100, 100),
    st.floats(-100, 100),
    st.floats(0.5, 50),
    st.floats(0.5, 50),
    st.floats(0, 1),
).map(lambda v: [f"{f:.2f}" for f in v])


@SETTINGS
@given(
    values=good_boxes | st.lists(box_cells, min_size=5, max_size=5),
    category=st.sampled_from(
        [("car", ""), ("", "1"), ("road", ""), ("", "2")] * 3
        + [("Car", ""), (" car", ""), ("bus", ""), ("", "9"), ("car", "1"), ("", "+1"), ("", "")]
    ),
    occluded=st.sampled_from(["", "true", "FALSE", "3", '["a"]', '["a", 1]', "sunny"]),
    # The first two options only: their bbox formats name the columns below.
    which=st.integers(0, 1),
)
def test_csv_fast_path_agrees_with_full_path(
    values: list[str], category: tuple[str, str], occluded: str, which: int
) -> None:
    conv = Converter(OPTIONS[which], CATS)
    header = [
        "sample_uuid",
        "category",
        "category_id",
        "x",
        "y",
        "w",
        "h",
        "score",
        "attr.occluded",
    ]
    x, y, w, h, score = values
    name, cid = category
    cells = dict(zip(header, ["u", name, cid, x, y, w, h, score, occluded], strict=True))
    if which == 0:  # --bbox-format xyxy: the same numbers under corner columns
        cells = {
            {"x": "x0", "y": "y0", "w": "x1", "h": "y1"}.get(k, k): v for k, v in cells.items()
        }
    layout_key = tuple(cells)
    conv.csv_part(record(cells, fmt="csv"))
    layout = conv.ctx.csv_layouts[layout_key]
    assert layout.fast
    fast = csv_fast(conv.ctx, cells, layout)
    if fast is None:
        return
    errors: list[list[str]] = []
    full = csv_annotation(conv.ctx, cells, layout, errors)
    assert errors == []
    assert full == fast

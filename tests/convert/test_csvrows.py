"""CSV/TSV records through ``csv_part`` and ``convert_group``.

Records are the ``{column: cell text}`` dicts the reader yields. Groups are
formed here the way the grouping stage does it: by key, payloads in input order.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import orjson
import pytest
from convkit import record, sdk_check_job

from upload_preds.convert import Converter, ConvertOptions, csv_header_problems
from upload_preds.convert.categories import Categories
from upload_preds.records import LabelJob, Location, RowError

HEADER = ["sample_name", "category", "x0", "y0", "x1", "y1", "score", "attr.occluded"]


def cells(header: list[str], line: str) -> dict[str, str]:
    """One CSV record as the reader yields it (cells split on ',' for brevity)."""
    values = line.split(",")
    assert len(values) == len(header)
    return dict(zip(header, values, strict=True))


def run_csv(
    conv: Converter, header: list[str], lines: list[str], file: str = "p.csv"
) -> tuple[list[LabelJob], list[RowError]]:
    """csv_part over every line (line numbers from 2), then convert_group per key."""
    groups: dict[str, list[tuple[Location, dict[str, Any]]]] = {}
    errors: list[RowError] = []
    for n, line in enumerate(lines, 2):
        rec = record(cells(header, line), line=n, fmt="csv", file=file)
        part = conv.csv_part(rec)
        if isinstance(part, RowError):
            errors.append(part)
            continue
        key, payload = part
        # The payload must survive a trip through JSON (the grouper may spill it).
        groups.setdefault(key, []).append((rec.loc, orjson.loads(orjson.dumps(payload))))
    jobs: list[LabelJob] = []
    for key, items in groups.items():
        result = conv.convert_group(key, items)
        if isinstance(result, LabelJob):
            jobs.append(result)
        else:
            errors.extend(result)
    return jobs, errors


def one_line(conv: Converter, header: list[str], line: str, n: int = 7) -> Any:
    """A one-line label: ';' in ``line`` stands for ',' inside JSON cells."""
    data = {k: v.replace(";", ",") for k, v in cells(header, line).items()}
    rec = record(data, line=n, fmt="csv", file="p.csv")
    part = conv.csv_part(rec)
    assert not isinstance(part, RowError), part
    return conv.convert_group(part[0], [(rec.loc, part[1])])


@pytest.fixture
def conv(street_categories: Categories) -> Converter:
    return Converter(ConvertOptions(), street_categories)


def test_lines_of_one_sample_make_one_label(conv: Converter) -> None:
    jobs, errors = run_csv(
        conv,
        HEADER,
        [
            "a.jpg,car,10,20,30,40,0.9,false",
            "b.jpg,truck,1,1,2,2,0.5,true",
            "a.jpg,Pedestrian,5,5,1,1,0.3,",
        ],
    )
    assert errors == []
    by_name = {j.sample_name: j for j in jobs}
    a = by_name["a.jpg"]
    assert a.attributes == {
        "format_version": "0.1",
        "annotations": [
            {
                "id": 1,
                "category_id": 1,
                "type": "bbox",
                "points": [[10, 20], [30, 40]],
                "attributes": {"occluded": False},
            },
            {
                "id": 2,
                "category_id": 3,
                "type": "bbox",
                "points": [[1, 1], [5, 5]],
                "attributes": {},
            },
        ],
    }
    assert [loc.line for loc in a.locs] == [2, 4]
    assert (a.labelset, a.label_status, a.sample_uuid) == ("ground-truth", "PRELABELED", None)
    assert a.object_scores_dropped is True
    assert a.extra == {}
    for job in jobs:
        sdk_check_job(job)


def test_labelset_column_splits_labels(conv: Converter) -> None:
    header = ["sample_uuid", "labelset", "category_id", "xmin", "ymin", "xmax", "ymax"]
    jobs, errors = run_csv(conv, header, ["u1,,1,0,0,1,1", "u1,preds,2,0,0,1,1", "u1,,3,0,0,2,2"])
    assert errors == []
    assert sorted((j.labelset, len(j.attributes["annotations"])) for j in jobs) == [
        ("ground-truth", 2),
        ("preds", 1),
    ]


@pytest.mark.parametrize(
    ("header", "line", "fmt", "points"),
    [
        (
            ["sample_uuid", "category_id", "x", "y", "w", "h"],
            "u,1,10,20,5,6",
            "xywh",
            [[10, 20], [15, 26]],
        ),
        (
            ["sample_uuid", "category_id", "cx", "cy", "w", "h"],
            "u,1,10,20,4,6",
            "cxcywh",
            [[8.0, 17.0], [12.0, 23.0]],
        ),
        (["sample_uuid", "category_id", "points"], "u,1,[[5;6];[1;2]]", "xyxy", [[1, 2], [5, 6]]),
    ],
    ids=["xywh", "cxcywh", "points-json"],
)
def test_box_conventions(
    street_categories: Categories, header: list[str], line: str, fmt: Any, points: Any
) -> None:
    conv = Converter(ConvertOptions(bbox_format=fmt), street_categories)
    job = one_line(conv, header, line)
    assert isinstance(job, LabelJob)
    assert job.attributes["annotations"][0]["points"] == points
    sdk_check_job(job)


def test_points_column_with_commas(conv: Converter) -> None:
    # A points cell holds JSON with commas: build the record directly, as a reader would.
    rec = record(
        {
            "sample_uuid": "u",
            "category": "road",
            "type": "polygon",
            "points": "[[0,0],[5,0],[5,5]]",
        },
        fmt="csv",
    )
    part = conv.csv_part(rec)
    assert not isinstance(part, RowError)
    job = conv.convert_group(part[0], [(rec.loc, part[1])])
    assert isinstance(job, LabelJob)
    assert job.attributes["annotations"] == [
        {"id": 1, "category_id": 8, "type": "polygon", "points": [[0, 0], [5, 0], [5, 5]]}
    ]
    sdk_check_job(job)


def test_cuboid_columns() -> None:
    conv = Converter(ConvertOptions(), None)
    rec = record(
        {
            "sample_uuid": "u",
            "category_id": "3",
            "type": "cuboid",
            "position": "[1, 2, 3]",
            "dimensions": '{"x": 1, "y": 2, "z": 3}',
            "yaw": "0.5",
            "rotation": "",
            "id": "4",
        },
        fmt="csv",
    )
    part = conv.csv_part(rec)
    assert not isinstance(part, RowError)
    job = conv.convert_group(part[0], [(rec.loc, part[1])])
    assert isinstance(job, LabelJob)
    assert job.attributes == {
        "format_version": "0.2",
        "annotations": [
            {
                "id": 4,
                "category_id": 3,
                "type": "cuboid",
                "position": {"x": 1, "y": 2, "z": 3},
                "dimensions": {"x": 1, "y": 2, "z": 3},
                "yaw": 0.5,
            }
        ],
    }
    sdk_check_job(job)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("FALSE", False),
        ("3", 3),
        ("-0.5", -0.5),
        ("1e3", 1000.0),
        ("null", None),
        ('["a", "b"]', ["a", "b"]),
        ('"007"', "007"),
        ("007", "007"),
        ("nan", "nan"),
        ("sunny", "sunny"),
        ("[not json", "[not json"),
    ],
    ids=[
        "true",
        "false-any-case",
        "int",
        "float",
        "exponent",
        "null",
        "list",
        "quoted-string",
        "leading-zero-stays-text",
        "nan-stays-text",
        "text",
        "bad-json-stays-text",
    ],
)
def test_attribute_cells(conv: Converter, text: str, value: Any) -> None:
    rec = record(
        {"sample_uuid": "u", "category_id": "1", "points": "[[0,0],[1,1]]", "attr.v": text},
        fmt="csv",
    )
    part = conv.csv_part(rec)
    assert not isinstance(part, RowError)
    assert part[1]["a"]["attributes"] == {"v": value}


def test_empty_attribute_cell_is_absent(conv: Converter) -> None:
    rec = record(
        {"sample_uuid": "u", "category_id": "1", "points": "[[0,0],[1,1]]", "attr.v": ""}, fmt="csv"
    )
    part = conv.csv_part(rec)
    assert not isinstance(part, RowError)
    assert part[1]["a"]["attributes"] == {}


def test_scores_ids_and_options(street_categories: Categories) -> None:
    conv = Converter(
        ConvertOptions(min_score=0.4, score_from="mean", object_score_attribute="confidence"),
        street_categories,
    )
    header = ["sample_uuid", "category_id", "x0", "y0", "x1", "y1", "score", "id"]
    (job,), errors = run_csv(
        conv, header, ["u,1,0,0,1,1,0.9,3", "u,1,0,0,1,1,0.1,", "u,1,0,0,1,1,0.5,", "u,1,0,0,1,1,,"]
    )
    assert errors == []
    assert job.filtered_annotations == 1
    assert job.score == pytest.approx(0.7)
    assert job.object_scores_dropped is False
    anns = job.attributes["annotations"]
    assert [(a["id"], a.get("attributes")) for a in anns] == [
        (3, {"confidence": 0.9}),
        (1, {"confidence": 0.5}),
        (2, None),
    ]
    sdk_check_job(job)


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "line", "opts", "field", "reason", "fragment"),
    [
        (
            ["sample_uuid", "category_id", "x", "y", "w", "h"],
            "u,1,1,2,3,4",
            {},
            "x,y,w,h",
            "bad CSV columns",
            "pass --bbox-format xywh",
        ),
        (
            ["sample_uuid", "category_id", "cx", "cy", "w", "h"],
            "u,1,1,2,3,4",
            {"bbox_format": "xywh"},
            "cx,cy,w,h",
            "bad CSV columns",
            "pass --bbox-format cxcywh",
        ),
        (
            ["sample_uuid", "category_id", "x0", "y0", "x1", "y1"],
            "u,1,1,2,3,4",
            {"bbox_format": "cxcywh"},
            "x0,y0,x1,y1",
            "bad CSV columns",
            "pass --bbox-format xyxy",
        ),
        (
            ["sample_uuid", "category_id", "x0", "y0", "x1"],
            "u,1,1,2,3",
            {},
            "x0",
            "bad CSV columns",
            "incomplete box columns",
        ),
        (
            ["sample_uuid", "category_id", "points", "colour"],
            "u,1,[],red",
            {},
            "colour",
            "bad CSV columns",
            "unknown column",
        ),
        (
            ["sample_uuid", "category_id", "points", "scre"],
            "u,1,[],1",
            {},
            "scre",
            "bad CSV columns",
            "did you mean 'score'?",
        ),
        (["sample_uuid", "points"], "u,[]", {}, "category", "bad CSV columns", "missing column"),
        (
            HEADER,
            "a.jpg,car,1,2,x,4,0.5,",
            {},
            "x1",
            "invalid value",
            "should be a number, got 'x'",
        ),
        (HEADER, "a.jpg,car,1,2,inf,4,0.5,", {}, "x1", "non-finite number", "finite"),
        (HEADER, "a.jpg,car,1,2,,4,0.5,", {}, "x1", "missing field", "empty"),
        (HEADER, "a.jpg,car,1,2,1,4,0.5,", {}, "x0,y0,x1,y1", "zero-area bbox", "zero area"),
        (HEADER, "a.jpg,bus,1,2,3,4,0.5,", {}, "category", "unknown category", "'bus'"),
        (HEADER, "a.jpg,,1,2,3,4,0.5,", {}, "category", "missing field", "give category_id"),
        (HEADER, "a.jpg,car,1,2,3,4,high,", {}, "score", "invalid value", "should be a number"),
        (
            HEADER,
            'a.jpg,car,1,2,3,4,0.5,["a"; 1]',
            {},
            "attr.occluded",
            "invalid attributes",
            "list of strings",
        ),
        (
            ["sample_uuid", "category_id", "points"],
            "u,9,[[0;0];[1;1]]",
            {},
            "category_id",
            "unknown category id",
            "category id 9",
        ),
        (
            ["sample_uuid", "category_id", "points"],
            "u,one,[[0;0];[1;1]]",
            {},
            "category_id",
            "invalid value",
            "should be an integer",
        ),
        (
            ["sample_uuid", "category_id", "type", "points"],
            "u,1,polygon,[[0;0];[1;1]]",
            {},
            "points",
            "invalid points",
            "at least 3 points",
        ),
        (
            ["sample_uuid", "category_id", "type", "points"],
            "u,1,circle,[[0;0]]",
            {},
            "type",
            "invalid value",
            "'circle'",
        ),
        (
            ["sample_uuid", "category_id", "points", "id"],
            "u,1,[[0;0];[1;1]],0",
            {},
            "id",
            "invalid value",
            "positive integer",
        ),
        (
            ["sample_uuid", "category_id", "points"],
            "u,1,",
            {},
            "points",
            "missing field",
            "a bbox needs box columns or points",
        ),
        (
            ["sample_uuid", "category_id", "type", "x0", "y0", "x1", "y1"],
            "u,1,polyline,0,0,1,1",
            {},
            "points",
            "missing field",
            "a polyline needs a points column",
        ),
        (
            ["sample_uuid", "category_id", "type", "position", "dimensions", "yaw"],
            "u,1,cuboid,[0;0;0],[1;1;0],nan",
            {"categories": None},
            "dimensions",
            "invalid cuboid",
            "greater than 0",
        ),
        (
            ["sample_uuid", "category_id", "points", "score", "attr.confidence"],
            "u,1,[[0;0];[1;1]],0.5,0.7",
            {"object_score_attribute": "confidence"},
            "attr.confidence",
            "invalid attributes",
            "would overwrite",
        ),
    ],
    ids=[
        "xywh-columns-need-flag",
        "cxcywh-columns-need-flag",
        "corner-columns-need-xyxy",
        "incomplete-box",
        "unknown-column",
        "unknown-column-suggests",
        "no-category-column",
        "number-cell",
        "infinite-cell",
        "empty-coordinate",
        "zero-area",
        "unknown-category",
        "empty-category",
        "score-cell",
        "attribute-cell-mixed-list",
        "unknown-category-id",
        "category-id-text",
        "polygon-too-short",
        "unknown-type",
        "id-zero",
        "no-geometry",
        "polyline-from-box-columns",
        "cuboid-bad-dimensions",
        "score-attribute-conflict",
    ],
)
def test_line_errors(
    street_categories: Categories,
    header: list[str],
    line: str,
    opts: dict[str, Any],
    field: str,
    reason: str,
    fragment: str,
) -> None:
    cats = opts.pop("categories", street_categories)
    conv = Converter(ConvertOptions(**opts), cats)
    result = one_line(conv, header, line)
    assert isinstance(result, list), result
    (e,) = result
    assert (str(e.loc), e.field, e.reason) == ("p.csv:7", field, reason), str(e)
    assert fragment in e.message, str(e)


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"sample_uuid": "", "sample_name": "", "category_id": "1"}, "sample_name", "empty"),
        (
            {"sample_uuid": "u", "sample_name": "a.jpg", "category_id": "1"},
            "sample_name",
            "not both",
        ),
        ({"sample_name": "a/b.jpg", "category_id": "1"}, "sample_name", "'/'"),
        ({"sample_uuid": "u", "labelset": "a/b", "category_id": "1"}, "labelset", "'/'"),
    ],
    ids=["no-sample", "both-samples", "slash-in-name", "slash-in-labelset"],
)
def test_lines_without_a_label(
    conv: Converter, data: dict[str, str], field: str, fragment: str
) -> None:
    part = conv.csv_part(record(data, line=3, fmt="csv", file="p.csv"))
    assert isinstance(part, RowError)
    assert (str(part.loc), part.field) == ("p.csv:3", field)
    assert fragment in part.message


def test_a_bad_line_fails_the_whole_label(conv: Converter) -> None:
    jobs, errors = run_csv(
        conv,
        HEADER,
        [
            "a.jpg,car,0,0,1,1,0.9,",  # line 2
            "b.jpg,car,0,0,1,1,0.9,",  # line 3: another label, unaffected
            "a.jpg,bus,0,0,1,1,0.9,",  # line 4: bad
            "a.jpg,car,0,0,2,2,0.9,",  # line 5
            "a.jpg,car,0,0,x,2,nope,",  # line 6: bad, two problems
        ],
    )
    assert [j.sample_name for j in jobs] == ["b.jpg"]
    by_line = {e.loc.line: e for e in errors}
    # Every input line of the failed label has exactly one error.
    assert sorted(by_line) == [2, 4, 5, 6]
    assert len(errors) == 4
    assert by_line[4].reason == "unknown category"
    assert (by_line[6].field, by_line[6].reason) == ("x1", "invalid value")
    assert "(also score: should be a number" in by_line[6].message
    for n in (2, 5):
        e = by_line[n]
        assert (e.field, e.reason) == (None, "another line of the label failed")
        assert "not uploaded: line 4 of the same label (sample name 'a.jpg'" in e.message


def test_group_level_errors_name_lines(street_categories: Categories) -> None:
    conv = Converter(ConvertOptions(), Categories([(1, "car")]))
    header = ["sample_uuid", "category_id", "type", "points", "position", "dimensions", "yaw", "id"]
    rows = [
        {"sample_uuid": "u", "category_id": "1", "points": "[[0,0],[1,1]]", "id": "5"},
        {"sample_uuid": "u", "category_id": "1", "points": "[[0,0],[2,2]]", "id": "5"},
    ]
    items = []
    for n, data in enumerate(rows, 10):
        rec = record({k: data.get(k, "") for k in header}, line=n, fmt="csv", file="p.csv")
        part = conv.csv_part(rec)
        assert not isinstance(part, RowError)
        items.append((rec.loc, part[1]))
    result = conv.convert_group(part[0], items)
    assert isinstance(result, list)
    first, second = result
    assert (first.loc.line, first.reason) == (10, "another line of the label failed")
    assert (second.loc.line, second.field, second.reason) == (11, "id", "duplicate annotation id")
    assert "already used by line 10 of the same label" in second.message

    mixed = [
        {"sample_uuid": "u", "category_id": "1", "points": "[[0,0],[1,1]]"},
        {
            "sample_uuid": "u",
            "category_id": "1",
            "type": "cuboid",
            "position": "[0,0,0]",
            "dimensions": "[1,1,1]",
            "yaw": "0",
        },
    ]
    items = []
    for n, data in enumerate(mixed, 20):
        rec = record({k: data.get(k, "") for k in header}, line=n, fmt="csv", file="p.csv")
        part = conv.csv_part(rec)
        assert not isinstance(part, RowError)
        items.append((rec.loc, part[1]))
    result = conv.convert_group(part[0], items)
    assert isinstance(result, list)
    assert [(e.loc.line, e.field, e.reason) for e in result] == [
        (20, None, "another line of the label failed"),
        (21, "type", "mixed annotation kinds"),
    ]
    assert "this is a cuboid, line 20 is a bbox" in result[1].message


def test_header_problems() -> None:
    opts = ConvertOptions(bbox_format="xyxy")
    assert csv_header_problems(HEADER, opts) == []
    problems = csv_header_problems(["sample_uuid", "category", "x", "y", "w", "h", "foo"], opts)
    assert [c for c, _ in problems] == ["x,y,w,h", "foo"]
    assert "pass --bbox-format xywh" in problems[0][1]


# --- order independence ----------------------------------------------------------------------


def _multiset(job: LabelJob) -> Counter[str]:
    """A label's annotations without their ids (ids follow input order by design)."""
    return Counter(
        orjson.dumps(
            {k: v for k, v in a.items() if k != "id"}, option=orjson.OPT_SORT_KEYS
        ).decode()
        for a in job.attributes["annotations"]
    )


def test_shuffled_lines_give_the_same_labels(street_categories: Categories) -> None:
    rnd = random.Random(7)
    names = ["car", "truck", "pedestrian", "road"]
    lines = []
    for _ in range(300):
        x, y = rnd.randint(0, 500), rnd.randint(0, 500)
        lines.append(
            f"img_{rnd.randrange(25)}.jpg,{rnd.choice(names)},{x},{y},{x + rnd.randint(1, 50)},"
            f"{y + rnd.randint(1, 50)},{rnd.random():.3f},{rnd.choice(['true', 'false', ''])}"
        )
    conv = Converter(ConvertOptions(score_from="max", min_score=0.2), street_categories)
    sorted_jobs, e1 = run_csv(conv, HEADER, sorted(lines))
    shuffled = lines[:]
    rnd.shuffle(shuffled)
    shuffled_jobs, e2 = run_csv(conv, HEADER, shuffled)
    assert e1 == e2 == []

    def summary(jobs: list[LabelJob]) -> dict[Any, Any]:
        return {
            (j.sample_name, j.labelset): (_multiset(j), j.score, j.filtered_annotations)
            for j in jobs
        }

    assert summary(sorted_jobs) == summary(shuffled_jobs)
    assert len(sorted_jobs) == 25
    for job in shuffled_jobs:
        sdk_check_job(job)
        ids = [a["id"] for a in job.attributes["annotations"]]
        assert ids == list(range(1, len(ids) + 1))


def test_items_out_of_order_are_put_back_in_input_order(conv: Converter) -> None:
    recs = [
        record(
            {"sample_uuid": "u", "category_id": str(c), "points": "[[0,0],[1,1]]"},
            line=n,
            fmt="csv",
            file=f,
        )
        for n, c, f in [(5, 1, "b.csv"), (9, 2, "a.csv"), (2, 3, "b.csv")]
    ]
    parts = [conv.csv_part(r) for r in recs]
    items = [(r.loc, p[1]) for r, p in zip(recs, parts, strict=True)]  # type: ignore[index]
    job = conv.convert_group(parts[0][0], [items[1], items[2], items[0]])  # type: ignore[index]
    assert isinstance(job, LabelJob)
    # a.csv was seen first in the items given; within b.csv, line 2 precedes line 5.
    assert [(loc.file, loc.line) for loc in job.locs] == [("a.csv", 9), ("b.csv", 2), ("b.csv", 5)]
    assert [a["category_id"] for a in job.attributes["annotations"]] == [2, 3, 1]

"""``pointcloud-vector`` labels from shorthand rows and CSV lines: 3-D polygons,
polylines and points (and cuboids beside them), each label validated with the
SDK's ``PointcloudVectorLabelAttributes``; every geometry rule has its error
naming the field (``annotations[i].points[j]``) or the CSV column and line."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from lidarkit import (
    PC_CATEGORIES,
    converter,
    csv_label,
    errs,
    offline_env,
    ok,
    record,
    sdk_valid,
)

from clikit import run_cli, write_jsonl
from upload_preds.convert import Converter, ConvertOptions

TT = "pointcloud-vector"


def row(*anns: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"sample_name": "sweep-1", "annotations": list(anns), **extra}


def test_shapes_and_a_cuboid_make_one_sdk_valid_label() -> None:
    conv = converter(TT)
    job = ok(
        conv.convert(
            record(
                row(
                    {
                        "type": "polygon",
                        "category": "lane",
                        "points": [[0, 0, 0], [4, 0, 0.1], [4, 3.5, 0.2]],
                    },
                    {
                        "type": "polyline",
                        "category_id": 2,
                        "points": [[0.5, 1, 0], [9.5, 1.25, 0]],
                        "id": 7,
                    },
                    {
                        "type": "point",
                        "category": "pole",
                        "points": [[3, -2, 1.5]],
                        "attributes": {"lit": True},
                    },
                    {
                        "type": "cuboid",
                        "category": "car",
                        "position": [1, 2, 0.5],
                        "dimensions": [4, 2, 1.5],
                        "yaw": 0.3,
                    },
                )
            )
        )
    )
    attrs = job.attributes
    sdk_valid(TT, attrs)
    assert attrs["format_version"] == "0.2"
    assert [(a["id"], a["type"], a["category_id"]) for a in attrs["annotations"]] == [
        (1, "polygon", 2),
        (7, "polyline", 2),
        (2, "point", 3),
        (3, "cuboid", 1),
    ]
    assert attrs["annotations"][0]["points"] == [[0, 0, 0], [4, 0, 0.1], [4, 3.5, 0.2]]
    assert attrs["annotations"][2]["attributes"] == {"lit": True}
    assert attrs["annotations"][3]["position"] == {"x": 1, "y": 2, "z": 0.5}


def test_scores_follow_the_single_label_rules() -> None:
    conv = converter(TT, min_score=0.5, object_score_attribute="confidence")
    job = ok(
        conv.convert(
            record(
                row(
                    {"type": "point", "category": "pole", "points": [[1, 1, 1]], "score": 0.9},
                    {"type": "point", "category": "pole", "points": [[2, 2, 2]], "score": 0.2},
                    {"type": "point", "category": "pole", "points": [[3, 3, 3]], "score": 0.7},
                )
            )
        )
    )
    sdk_valid(TT, job.attributes)
    anns = job.attributes["annotations"]
    assert [a["attributes"]["confidence"] for a in anns] == [0.9, 0.7]
    assert job.filtered_annotations == 1
    assert job.score == pytest.approx(0.8)


BAD_SHAPES: list[tuple[dict[str, Any], str, str]] = [
    ({"category": "car", "points": [[1, 2, 3]]}, "annotations[0].type", "no default type"),
    ({"type": "bbox", "category": "car", "points": [[1, 2, 3]]}, "annotations[0].type", "2-D"),
    (
        {"type": "box3d", "category": "car", "points": [[1, 2, 3]]},
        "annotations[0].type",
        "polygon, polyline, point, cuboid",
    ),
    ({"type": "point", "category": "car"}, "annotations[0].points", "needs points"),
    (
        {"type": "point", "category": "car", "points": "1,2,3"},
        "annotations[0].points",
        "list of [x, y, z]",
    ),
    (
        {"type": "polygon", "category": "lane", "points": [[0, 0, 0], [1, 0, 0]]},
        "annotations[0].points",
        "at least 3 points, got 2",
    ),
    (
        {"type": "polyline", "category": "lane", "points": [[0, 0, 0]]},
        "annotations[0].points",
        "at least 2 points, got 1",
    ),
    (
        {"type": "point", "category": "pole", "points": [[0, 0, 0], [1, 1, 1]]},
        "annotations[0].points",
        "exactly one point, got 2",
    ),
    (
        {"type": "polygon", "category": "lane", "points": [[0, 0, 0], [1, 0], [1, 1, 0]]},
        "annotations[0].points[1]",
        "[x, y, z]",
    ),
    (
        {"type": "polyline", "category": "lane", "points": [[0, 0, 0], [1, 0, 0, 1]]},
        "annotations[0].points[1]",
        "3 numbers",
    ),
    (
        {"type": "polyline", "category": "lane", "points": [[0, 0, 0], [1, "a", 0]]},
        "annotations[0].points[1]",
        "y: should be a number",
    ),
    (
        {"type": "polyline", "category": "lane", "points": [[0, 0, 0], [1, 0, math.inf]]},
        "annotations[0].points[1]",
        "z: should be a finite number",
    ),
    (
        {"type": "point", "category": "pole", "points": [[True, 0, 0]]},
        "annotations[0].points[0]",
        "x: should be a number",
    ),
    (
        {"type": "point", "category": "pole", "bbox": [1, 2, 3, 4]},
        "annotations[0].bbox",
        "does not apply",
    ),
    (
        {"type": "point", "category": "tree", "points": [[0, 0, 0]]},
        "annotations[0].category",
        "unknown category",
    ),
]


@pytest.mark.parametrize(("ann", "field", "words"), BAD_SHAPES)
def test_each_geometry_rule_has_its_error(ann: dict[str, Any], field: str, words: str) -> None:
    # The first error is the rule's (a stray bbox also leaves the point without points).
    err = errs(converter(TT).convert(record(row(ann), line=4)))[0]
    assert err.field == field, err
    assert words in err.message, err
    assert (err.loc.file, err.loc.line) == ("preds.jsonl", 4)


def test_normalized_coordinates_are_refused_for_point_clouds() -> None:
    (err,) = errs(
        converter(TT, normalized=True).convert(
            record(row({"type": "point", "category": "pole", "points": [[0.1, 0.2, 0.3]]}))
        )
    )
    assert "--normalized" in err.message


def test_a_row_with_several_problems_reports_each() -> None:
    res = errs(
        converter(TT).convert(
            record(
                row(
                    {"type": "point", "category": "pole", "points": [[0, 0]]},
                    {"type": "polyline", "category": "lane", "points": [[0, 0, 0], [1, 1, 1]]},
                    {"type": "polygon", "category": "lane", "points": [[0, 0, 0]]},
                )
            )
        )
    )
    assert [e.field for e in res] == ["annotations[0].points[0]", "annotations[2].points"]


# --- CSV ---------------------------------------------------------------------------------

HEADER = "sample_name,type,category,points,score,attr.lit"


def test_csv_points_column_holds_the_3d_points() -> None:
    job = ok(
        csv_label(
            converter(TT),
            HEADER,
            'sweep-1,polyline,lane,"[[0, 1, 0], [9.5, 1.25, 0.5]]",0.8,',
            'sweep-1,point,pole,"[[3, -2, 1.5]]",,true',
            'sweep-1,polygon,lane,"[[0,0,0],[4,0,0],[4,3,0]]",0.6,',
        )
    )
    sdk_valid(TT, job.attributes)
    assert [a["type"] for a in job.attributes["annotations"]] == ["polyline", "point", "polygon"]
    assert job.attributes["annotations"][1] == {
        "id": 2,
        "category_id": 3,
        "type": "point",
        "points": [[3, -2, 1.5]],
        "attributes": {"lit": True},
    }
    assert job.score == pytest.approx(0.7)


def test_csv_shapes_and_cuboid_columns_in_one_file() -> None:
    header = "sample_name,type,category,points,x,y,z,length,width,height,yaw"
    job = ok(
        csv_label(
            converter(TT),
            header,
            "sweep-1,cuboid,car,,1,2,0.5,4,2,1.5,0.1",
            'sweep-1,polyline,lane,"[[0,0,0],[1,0,0]]",,,,,,,',
        )
    )
    sdk_valid(TT, job.attributes)
    cub, line = job.attributes["annotations"]
    assert cub["dimensions"] == {"x": 4.0, "y": 2.0, "z": 1.5}
    assert line["points"] == [[0, 0, 0], [1, 0, 0]]


CSV_BAD: list[tuple[str, str, str, str]] = [
    (HEADER, 'sweep-1,,lane,"[[0,0,0],[1,0,0]]",,', "type", "no default type"),
    (HEADER, "sweep-1,polyline,lane,,,", "points", "needs a points column"),
    (HEADER, 'sweep-1,polyline,lane,"[[0,0,0]]",,', "points", "at least 2 points"),
    (
        HEADER,
        'sweep-1,polygon,lane,"[[0,0,0],[1,0],[1,1,0]]",,',
        "points",
        "points[1]: should be [x, y, z]",
    ),
    (HEADER, 'sweep-1,point,lane,"[[0,0,NaN]]",,', "points", "list of [x, y, z]"),
    (HEADER, 'sweep-1,point,lane,"[[0,0,0]]",x,', "score", "should be a number"),
    ("sample_name,type,category,points,x0,y0,x1,y1", "sweep-1,bbox,car,,1,2,3,4", "type", "2-D"),
    (
        "sample_name,type,category,points,x0,y0,x1,y1",
        'sweep-1,point,car,"[[0,0,0]]",1,2,3,4',
        "x0",
        "box columns do not apply",
    ),
    (
        "sample_name,type,category,points,x,y,z,length,width,height,yaw",
        'sweep-1,point,pole,"[[0,0,0]]",1,,,,,,',
        "x",
        "cuboid columns do not apply to a point",
    ),
]


@pytest.mark.parametrize(("header", "line", "column", "words"), CSV_BAD)
def test_each_csv_problem_names_the_column_and_line(
    header: str, line: str, column: str, words: str
) -> None:
    good = 'sweep-1,point,pole,"[[1, 1, 1]]"'
    good += "," * (len(header.split(",")) - 4)
    res = errs(csv_label(converter(TT), header, good, line))
    assert len(res) == 2
    first, second = res
    assert (first.loc.line, second.loc.line) == (2, 3)
    assert "line 3 of the same label" in first.message  # the good line fails with it
    assert second.field == column, second
    assert words in second.message, second


# --- the CLI, offline ----------------------------------------------------------------------


def test_cli_output_labels_are_sdk_valid_and_errors_name_file_line_field(tmp_path: Path) -> None:
    cats = tmp_path / "dataset.json"
    cats.write_text(json.dumps({"task_type": TT, "task_attributes": {"categories": PC_CATEGORIES}}))
    src = write_jsonl(
        tmp_path / "preds.jsonl",
        [
            row({"type": "polyline", "category": "lane", "points": [[0, 0, 0], [1, 0, 0.5]]}),
            {
                "sample_name": "sweep-2",
                "annotations": [{"type": "point", "category": "pole", "points": [[1, 2]]}],
            },
            {
                "sample_name": "sweep-3",
                "annotations": [{"type": "point", "category": "pole", "points": [[1, 2, 3]]}],
            },
        ],
    )
    out = tmp_path / "labels.jsonl"
    res = run_cli(
        [str(src), "--categories", str(cats), "--output-labels", str(out), "--json"],
        env=offline_env(),
        cwd=tmp_path,
    )
    assert res.code == 1, res.stderr
    assert "preds.jsonl:2: annotations[0].points[0]" in res.stderr
    labels = [json.loads(x) for x in out.read_text().splitlines()]
    assert [lb["sample_name"] for lb in labels] == ["sweep-1", "sweep-3"]
    for lb in labels:
        sdk_valid(TT, lb["attributes"])
    assert res.report()["counts"]["failed"] == 1


def test_3d_points_without_a_task_type_say_what_they_need() -> None:
    conv = Converter(ConvertOptions(), None)
    (err,) = errs(
        conv.convert(
            record(row({"type": "polyline", "category_id": 1, "points": [[0, 0, 0], [1, 1, 1]]}))
        )
    )
    assert err.field == "annotations[0].points"
    assert "3-D points are for pointcloud-vector datasets" in err.message

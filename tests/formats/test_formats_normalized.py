"""--normalized for the native formats: 0..1 coordinates scaled by the row's width/height.

JSON rows carry ``width``/``height`` fields, CSV records ``width``/``height``
columns. Uploaded through the real CLI into the sandbox; the stored points
must be the fractions times the image size. A missing size, a fraction
outside 0..1, and --normalized with a detector format are clear errors.
"""

from __future__ import annotations

import json

import pytest

from .conftest import FormatsEnv


def test_normalized_json_and_csv_rows_are_scaled(fenv: FormatsEnv) -> None:
    row = {
        "sample_name": "img_0001.jpg",
        "width": 640,
        "height": 480,
        "annotations": [
            {"category": "car", "bbox": [0.5, 0.25, 0.125, 0.75]},
            {"category": "person", "type": "polygon", "points": [[0, 0], [1, 0], [0.5, 1]]},
            {"category": "truck", "type": "point", "points": [[0.25, 0.5]]},
        ],
    }
    (fenv.tmp / "rows.jsonl").write_text(json.dumps(row) + "\n")
    (fenv.tmp / "rows.csv").write_text(
        "sample_name,category,x,y,w,h,width,height\n"
        "img_0002.jpg,car,0.1,0.2,0.5,0.25,1000,800\n"
        "img_0002.jpg,truck,0,0,1,1,1000,800\n"
    )
    res = fenv.run("rows.jsonl", "rows.csv", "--normalized", "--bbox-format", "xywh")
    assert res.code == 0, res.stderr
    one = fenv.label("img_0001.jpg")
    assert one is not None
    # xywh: (0.5, 0.25) and size (0.125, 0.75) → corners (0.5, 0.25), (0.625, 1.0).
    assert [a["points"] for a in one["attributes"]["annotations"]] == [
        [[320.0, 120.0], [400.0, 480.0]],
        [[0.0, 0.0], [640.0, 0.0], [320.0, 480.0]],
        [[160.0, 240.0]],
    ]
    two = fenv.label("img_0002.jpg")
    assert two is not None
    assert [a["points"] for a in two["attributes"]["annotations"]] == [
        [[100.0, 160.0], [600.0, 360.0]],
        [[0.0, 0.0], [1000.0, 800.0]],
    ]


@pytest.mark.parametrize(
    ("name", "content", "where", "message"),
    [
        pytest.param(
            "rows.jsonl",
            '{"sample_name": "img_0001.jpg", "annotations": [{"category": "car", '
            '"bbox": [0.1, 0.1, 0.2, 0.2]}]}\n',
            "rows.jsonl:1 img_0001.jpg: width: ",
            "--normalized needs the image size in pixels: give the width and height fields",
            id="json-without-size",
        ),
        pytest.param(
            "rows.jsonl",
            '{"sample_name": "img_0001.jpg", "width": 0, "height": 10, "annotations": '
            '[{"category": "car", "bbox": [0.1, 0.1, 0.2, 0.2]}]}\n',
            "rows.jsonl:1 img_0001.jpg: width: ",
            "should be a positive integer",
            id="json-zero-width",
        ),
        pytest.param(
            "rows.jsonl",
            '{"sample_name": "img_0001.jpg", "width": 10, "height": 10, "annotations": '
            '[{"category": "car", "bbox": [10, 10, 20, 20]}]}\n',
            "rows.jsonl:1 img_0001.jpg: annotations[0].bbox: ",
            "should be between 0 and 1",
            id="json-pixels-with-normalized",
        ),
        pytest.param(
            "rows.csv",
            "sample_name,category,xmin,ymin,xmax,ymax,width\nimg_0001.jpg,car,0.1,0.1,0.2,0.2,64\n",
            "rows.csv:2 img_0001.jpg: height: ",
            "give the width and height columns",
            id="csv-without-height",
        ),
        pytest.param(
            "rows.csv",
            "sample_name,category,xmin,ymin,xmax,ymax,width,height\n"
            "img_0001.jpg,car,0.1,0.1,1.2,0.2,64,48\n",
            "rows.csv:2 img_0001.jpg: xmin,ymin,xmax,ymax: ",
            "should be between 0 and 1",
            id="csv-out-of-range",
        ),
    ],
)
def test_normalized_row_errors(
    fenv: FormatsEnv, name: str, content: str, where: str, message: str
) -> None:
    (fenv.tmp / name).write_text(content)
    res = fenv.run(name, "--normalized")
    assert res.code == 1, res.stderr
    examples = json.dumps(res.report()["failure_examples"])
    assert where in examples, examples
    assert message in examples, examples
    assert fenv.label("img_0001.jpg") is None


def test_normalized_is_for_native_formats(fenv: FormatsEnv) -> None:
    (fenv.tmp / "res.json").write_text("[]")
    (fenv.tmp / "gt.json").write_text(json.dumps({"images": [], "categories": []}))
    res = fenv.run("res.json", "--format", "coco", "--coco-gt", "gt.json", "--normalized")
    assert res.code == 2
    assert "--normalized is for the native row formats" in res.stderr

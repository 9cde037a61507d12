"""Point-cloud cuboids from plain CSV columns (x,y,z,length,width,height,yaw).

Uploaded through the real CLI into a ``pointcloud-cuboid`` sandbox dataset;
the stored labels are read back and validated with the official SDK's
``PointcloudCuboidLabelAttributes`` (an independent reader of the format),
and each cuboid is compared with its CSV line. Bad cells fail their label
with the column named; a bad header fails every row of the file.
"""

from __future__ import annotations

import json

import pytest
from segments.typing import PointcloudCuboidLabelAttributes

from .conftest import CuboidEnv

HEADER = "sample_name,category,x,y,z,length,width,height,yaw,score,attr.occluded\n"
LINES = [
    "scan_000.pcd,car,12.5,-3.25,0.9,4.6,1.9,1.55,0.35,0.91,false",
    "scan_001.pcd,person,1,2,0.8,0.6,0.7,1.8,-1.5707,0.6,true",
    "scan_000.pcd,truck,-20,4,1.6,9.5,2.5,3.2,3.1,0.77,",
]


def test_cuboid_columns_upload_and_pass_the_sdk(cenv: CuboidEnv) -> None:
    (cenv.tmp / "cuboids.csv").write_text(HEADER + "\n".join(LINES) + "\n")
    res = cenv.run("cuboids.csv", "--object-score-attribute", "confidence")
    assert res.code == 0, res.stderr
    assert res.report()["counts"]["uploaded"] == 3
    by_sample: dict[str, list[list[str]]] = {}
    for line in LINES:
        cells = line.split(",")
        by_sample.setdefault(cells[0], []).append(cells)
    ids = {"car": 1, "truck": 2, "person": 3}
    for name, rows in by_sample.items():
        label = cenv.label(name)
        assert label is not None
        attrs = label["attributes"]
        sdk = PointcloudCuboidLabelAttributes.model_validate(attrs)
        assert len(sdk.annotations) == len(rows)
        for ann, cells in zip(sdk.annotations, rows, strict=True):
            x, y, z, length, width, height, yaw, score = map(float, cells[2:10])
            assert ann.category_id == ids[cells[1]]
            assert (ann.position.x, ann.position.y, ann.position.z) == (x, y, z)
            assert (ann.dimensions.x, ann.dimensions.y, ann.dimensions.z) == (length, width, height)
            assert ann.yaw == yaw
            expected = {"confidence": score}
            if cells[10]:
                expected["occluded"] = cells[10] == "true"
            assert ann.attributes == expected


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        pytest.param(
            "scan_000.pcd,car,1,2,3,0,1,1,0.1", "length", "greater than 0", id="zero-length"
        ),
        pytest.param(
            "scan_000.pcd,car,1,2,3,1,-1,1,0.1", "width", "greater than 0", id="neg-width"
        ),
        pytest.param("scan_000.pcd,car,1,2,3,1,1,1,", "yaw", "empty", id="missing-yaw"),
        pytest.param("scan_000.pcd,car,1,two,3,1,1,1,0", "y", "should be a number", id="bad-y"),
        pytest.param("scan_000.pcd,car,1,2,nan,1,1,1,0", "z", "finite", id="nan-z"),
    ],
)
def test_bad_cuboid_cells_fail_the_label(
    cenv: CuboidEnv, line: str, column: str, message: str
) -> None:
    good = "scan_000.pcd,car,5,5,1,4,2,1.5,0"
    header = "sample_name,category,x,y,z,length,width,height,yaw\n"
    (cenv.tmp / "bad.csv").write_text(header + good + "\n" + line + "\n")
    res = cenv.run("bad.csv")
    assert res.code == 1, res.stderr
    examples = json.dumps(res.report()["failure_examples"])
    assert f"bad.csv:3 scan_000.pcd: {column}: " in examples, examples
    assert message in examples, examples
    assert cenv.label("scan_000.pcd") is None  # never half a label


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param(
            "sample_name,category,x,y,z,length,yaw", "missing width, height", id="partial"
        ),
        pytest.param(
            "sample_name,category,x,y,z,length,width,height,yaw,position",
            "not both",
            id="columns-and-json",
        ),
    ],
)
def test_bad_cuboid_header_fails_every_row(cenv: CuboidEnv, header: str, message: str) -> None:
    cells = ["scan_000.pcd", "car"] + ["1"] * (header.count(",") - 1)
    (cenv.tmp / "h.csv").write_text(header + "\n" + ",".join(cells) + "\n")
    res = cenv.run("h.csv")
    assert res.code == 1, res.stderr
    assert message in res.stderr + res.stdout
    assert cenv.label("scan_000.pcd") is None

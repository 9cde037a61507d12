"""Point label files → pointcloud-segmentation labels, through the Converter.

Every label is validated with the official SDK's model and compared point by
point with the file it came from (``pcsegkit.check_label``); every bad file is
one row error on ``point_labels_path`` that names the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pcsegkit import (
    CATEGORIES,
    CATEGORY_IDS,
    CLASS_MAP,
    PARTS,
    check_label,
    make_scan,
    write_label,
)

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.errors import UsageError
from upload_preds.records import LabelJob, Location, Record, RowError

TASK = "pointcloud-segmentation"


def converter(**options: Any) -> Converter:
    options.setdefault("class_map", CLASS_MAP)
    cats = Categories.from_task_attributes({"categories": CATEGORIES}, TASK)
    return Converter(ConvertOptions(**options), cats, task_type=TASK)


def convert(conv: Converter, rows_file: Path, row: dict[str, Any]) -> LabelJob | list[RowError]:
    return conv.convert(Record(Location(str(rows_file), 3), "jsonl", row))  # type: ignore[arg-type]


def one_error(result: LabelJob | list[RowError]) -> RowError:
    assert isinstance(result, list), result
    assert len(result) == 1, result
    return result[0]


def test_semantickitti_label_file(tmp_path: Path) -> None:
    raw = make_scan()
    write_label(tmp_path / "labels" / "000000.label", raw)
    job = convert(
        converter(),
        tmp_path / "rows.jsonl",
        {"sample_name": "000000.bin", "point_labels_path": "labels/000000.label"},
    )
    assert isinstance(job, LabelJob), job
    check_label(job.attributes, raw)
    # 7 mapped (class, instance) pairs: road, building, vegetation, cars 1-3, person 4.
    assert len(job.attributes["annotations"]) == 7


def test_class_only_file_makes_one_instance_per_class(tmp_path: Path) -> None:
    raw = make_scan([(40, 0, 30), (10, 0, 20), (70, 0, 5), (0, 0, 3)])
    write_label(tmp_path / "a.label", raw)
    job = convert(
        converter(), tmp_path / "r.jsonl", {"sample_name": "a", "point_labels_path": "a.label"}
    )
    assert isinstance(job, LabelJob), job
    check_label(job.attributes, raw)
    assert sorted(a["category_id"] for a in job.attributes["annotations"]) == [1, 3, 5]


def test_without_a_map_class_ids_are_category_ids(tmp_path: Path) -> None:
    raw = make_scan([(3, 0, 30), (1, 5, 20), (1, 6, 10), (0, 0, 4)])
    write_label(tmp_path / "a.label", raw)
    job = convert(
        converter(class_map=None),
        tmp_path / "r.jsonl",
        {"sample_name": "a", "point_labels_path": "a.label"},
    )
    assert isinstance(job, LabelJob), job
    cats = sorted(a["category_id"] for a in job.attributes["annotations"])
    assert cats == [1, 1, 3]
    ids = np.asarray(job.attributes["point_annotations"])
    assert (ids == 0).sum() == 4


@pytest.mark.parametrize("points", [1200, 1199, 1201])
def test_points_flag_checks_the_count(tmp_path: Path, points: int) -> None:
    raw = make_scan()
    assert raw.size == 1200
    write_label(tmp_path / "a.label", raw)
    result = convert(
        converter(points=points),
        tmp_path / "r.jsonl",
        {"sample_name": "a", "point_labels_path": "a.label"},
    )
    if points == 1200:
        assert isinstance(result, LabelJob)
        return
    err = one_error(result)
    assert err.field == "point_labels_path"
    assert "1,200 ids" in err.message
    assert f"{points:,} points" in err.message
    assert "a.label" in err.message


def test_points_flag_must_be_positive() -> None:
    with pytest.raises(UsageError, match="--points"):
        ConvertOptions(points=0)
    with pytest.raises(UsageError, match="--point-labels-kind"):
        ConvertOptions(point_labels_kind="semantic")


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("short.label", b"\x0a\x00\x00\x00\x28\x00", "not a multiple of 4"),
        ("missing.label", None, "no such file"),
        ("two_d.npy", np.zeros((4, 3), np.int32), "1-D"),
        ("floats.npy", np.zeros(5, np.float32), "integer ids"),
        ("garbage.npy", b"not an npy file at all", "not a readable .npy"),
        ("negative.npy", np.array([1, -2, 3]), "negative"),
        ("words.txt", b"10\n40\ncar\n", "words.txt:3"),
        ("scan.pcd", b"x", "unknown file type"),
        ("unknown.label", np.array([10, 40, 77, 77], "<u4"), "77 (2 points)"),
    ],
)
def test_each_bad_file_is_one_row_error(
    tmp_path: Path, name: str, content: Any, needle: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, np.ndarray):
        if name.endswith(".npy"):
            np.save(path, content)
        else:
            content.tofile(path)
    result = convert(
        converter(), tmp_path / "r.jsonl", {"sample_name": "a", "point_labels_path": name}
    )
    err = one_error(result)
    assert err.field == "point_labels_path"
    assert needle in err.message, err.message
    assert name in err.message, err.message


def test_ids_with_no_category_without_a_map(tmp_path: Path) -> None:
    write_label(tmp_path / "a.label", np.array([1, 2, 9, 9, 9], "<u4"))
    err = one_error(
        convert(
            converter(class_map=None),
            tmp_path / "r.jsonl",
            {"sample_name": "a", "point_labels_path": "a.label"},
        )
    )
    assert "9 (3 points)" in err.message
    assert "category ids of the dataset" in err.message


def test_a_map_target_that_is_no_category(tmp_path: Path) -> None:
    write_label(tmp_path / "a.label", np.array([10, 40], "<u4"))
    err = one_error(
        convert(
            converter(class_map={"10": "car", "40": "raod"}),
            tmp_path / "r.jsonl",
            {"sample_name": "a", "point_labels_path": "a.label"},
        )
    )
    assert "'raod'" in err.message
    assert "'road'" in err.message


def test_path_outside_the_rows_folder_is_refused(tmp_path: Path) -> None:
    write_label(tmp_path / "a.label", make_scan())
    (tmp_path / "rows").mkdir()
    err = one_error(
        convert(
            converter(),
            tmp_path / "rows" / "r.jsonl",
            {"sample_name": "a", "point_labels_path": "../a.label"},
        )
    )
    assert "outside the rows file's folder" in err.message
    assert "point label files" in err.message


@pytest.mark.parametrize("fmt", ["npy", "txt"])
def test_class_ids_in_npy_and_txt(tmp_path: Path, fmt: str) -> None:
    classes = np.array([40, 40, 10, 0, 70, 10, 40], dtype=np.int32)
    path = tmp_path / f"a.{fmt}"
    if fmt == "npy":
        np.save(path, classes)
    else:
        path.write_text("".join(f"{v}\n" for v in classes.tolist()))
    job = convert(
        converter(), tmp_path / "r.jsonl", {"sample_name": "a", "point_labels_path": path.name}
    )
    assert isinstance(job, LabelJob), job
    check_label(job.attributes, classes.astype(np.uint32))


@pytest.mark.parametrize("fmt", ["npy", "txt"])
def test_instance_ids_with_annotations(tmp_path: Path, fmt: str) -> None:
    inst = np.array([0, 7, 7, 3, 3, 3, 0, 70000], dtype=np.int64)
    path = tmp_path / f"a.{fmt}"
    if fmt == "npy":
        np.save(path, inst)
    else:
        path.write_text("\n".join(str(v) for v in inst.tolist()))
    anns = [
        {"id": 3, "category": "road"},
        {"id": 7, "category_id": 1, "attributes": {"moving": True}},
        {"id": 70000, "category": "person"},
    ]
    job = convert(
        converter(),
        tmp_path / "r.jsonl",
        {"sample_name": "a", "point_labels_path": path.name, "annotations": anns},
    )
    assert isinstance(job, LabelJob), job
    attrs = job.attributes
    assert attrs["point_annotations"] == inst.tolist()
    assert attrs["annotations"] == [
        {"id": 3, "category_id": CATEGORY_IDS["road"]},
        {"id": 7, "category_id": 1, "attributes": {"moving": True}},
        {"id": 70000, "category_id": CATEGORY_IDS["person"]},
    ]


def test_instance_ids_not_listed(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.array([1, 2, 2, 5]))
    err = one_error(
        convert(
            converter(),
            tmp_path / "r.jsonl",
            {
                "sample_name": "a",
                "point_labels_path": "a.npy",
                "annotations": [{"id": 1, "category": "car"}],
            },
        )
    )
    assert "2 (2 points), 5 (1 points)" in err.message


def test_kind_flag_reads_a_label_file_as_class_ids(tmp_path: Path) -> None:
    # --point-labels-kind class: the whole uint32 is the class, no instance half.
    write_label(tmp_path / "a.label", np.array([10 | 1 << 16, 40], "<u4"))
    result = convert(
        converter(point_labels_kind="class"),
        tmp_path / "r.jsonl",
        {"sample_name": "a", "point_labels_path": "a.label"},
    )
    err = one_error(result)
    assert "65546 (1 points)" in err.message
    job = convert(
        converter(point_labels_kind="semantickitti"),
        tmp_path / "r.jsonl",
        {"sample_name": "a", "point_labels_path": "a.label"},
    )
    assert isinstance(job, LabelJob), job


def test_kind_instance_needs_annotations(tmp_path: Path) -> None:
    write_label(tmp_path / "a.label", np.array([1, 1, 0], "<u4"))
    err = one_error(
        convert(
            converter(point_labels_kind="instance"),
            tmp_path / "r.jsonl",
            {"sample_name": "a", "point_labels_path": "a.label"},
        )
    )
    assert err.field == "annotations"


def test_point_labels_in_another_task_type(tmp_path: Path) -> None:
    write_label(tmp_path / "a.label", make_scan())
    cats = Categories.from_task_attributes({"categories": CATEGORIES}, "vector")
    conv = Converter(ConvertOptions(), cats, task_type="vector")
    err = one_error(
        convert(conv, tmp_path / "r.jsonl", {"sample_name": "a", "point_labels_path": "a.label"})
    )
    assert err.field == "point_labels_path"
    assert "pointcloud-segmentation" in err.message


def test_segmentation_row_without_point_labels(tmp_path: Path) -> None:
    err = one_error(convert(converter(), tmp_path / "r.jsonl", {"sample_name": "a"}))
    assert err.field == "point_labels_path"


def test_parts_fixture_is_what_the_tests_think() -> None:
    assert sum(n for *_, n in PARTS) == 1200

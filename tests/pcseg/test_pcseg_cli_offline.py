"""The CLI offline: point label rows → ``--output-labels``, bad files failing only their row.

Runs ``python -m upload_preds`` as a user would (no server: ``--categories``
and ``--output-labels``), then reads the written labels back and checks them
with the SDK's model against the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pcsegkit import CLASS_MAP, categories_file, check_label, make_scan, write_label

from clikit import cli_env, run_cli, write_jsonl


def offline(tmp: Path, *extra: str) -> tuple[int, str, list[dict[str, Any]]]:
    (tmp / "map.json").write_text(json.dumps(CLASS_MAP))
    res = run_cli(
        [
            "rows.jsonl",
            "--categories",
            str(categories_file(tmp / "cats.json")),
            "--category-map",
            "map.json",
            "--output-labels",
            "out.jsonl",
            "--failures",
            "failed.jsonl",
            *extra,
        ],
        env=cli_env("http://127.0.0.1:9/", ""),
        cwd=tmp,
    )
    out = tmp / "out.jsonl"
    labels = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return res.code, res.stderr, labels


def test_good_and_bad_files_in_one_run(tmp_path: Path) -> None:
    scans = {f"s{i}": make_scan(seed=i) for i in range(3)}
    for name, raw in scans.items():
        write_label(tmp_path / "labels" / f"{name}.label", raw)
    (tmp_path / "labels" / "cut.label").write_bytes(scans["s0"].tobytes()[:-2])
    write_label(tmp_path / "labels" / "unmapped.label", np.array([10, 99, 99], "<u4"))
    write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {"sample_name": "s0.bin", "point_labels_path": "labels/s0.label"},
            {"sample_name": "cut.bin", "point_labels_path": "labels/cut.label"},
            {"sample_name": "s1.bin", "point_labels_path": "labels/s1.label"},
            {"sample_name": "unmapped.bin", "point_labels_path": "labels/unmapped.label"},
            {"sample_name": "gone.bin", "point_labels_path": "labels/gone.label"},
            {"sample_name": "s2.bin", "point_labels_path": "labels/s2.label"},
        ],
    )
    code, stderr, labels = offline(tmp_path)
    assert code == 1, stderr
    assert [lab["sample_name"] for lab in labels] == ["s0.bin", "s1.bin", "s2.bin"]
    for lab in labels:
        check_label(lab["attributes"], scans[lab["sample_name"][:-4]])
    # One error per bad file, each naming its line and file.
    failed = [json.loads(x) for x in (tmp_path / "failed.jsonl").read_text().splitlines()]
    assert [f["sample_name"] for f in failed] == ["cut.bin", "unmapped.bin", "gone.bin"]
    errors = [f["_error"] for f in failed]
    assert "rows.jsonl:2" in stderr
    assert "not a multiple of 4" in errors[0]
    assert "99 (2 points)" in errors[1]
    assert "no such file" in errors[2]
    assert "Traceback" not in stderr


def test_points_flag_on_the_command_line(tmp_path: Path) -> None:
    write_label(tmp_path / "a.label", make_scan())
    write_label(tmp_path / "b.label", make_scan()[:1000])
    write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {"sample_name": "a.bin", "point_labels_path": "a.label"},
            {"sample_name": "b.bin", "point_labels_path": "b.label"},
        ],
    )
    code, stderr, labels = offline(tmp_path, "--points", "1200")
    assert code == 1
    assert [lab["sample_name"] for lab in labels] == ["a.bin"]
    assert "1,000 ids but the point cloud has 1,200 points" in stderr


def test_bad_kind_flag_is_a_usage_error(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "rows.jsonl", [{"sample_name": "a.bin", "point_labels_path": "a.label"}])
    code, stderr, labels = offline(tmp_path, "--point-labels-kind", "semantic")
    assert code == 2
    assert "--point-labels-kind 'semantic'" in stderr
    assert labels == []


def test_the_sample_data_rows(tmp_path: Path) -> None:
    """sample_data's scans with the shipped learning map, against the demo dataset's categories."""
    root = Path(__file__).resolve().parents[2] / "sample_data"
    res = run_cli(
        [
            str(root / "pcseg_predictions.jsonl"),
            "--categories",
            str(categories_file_of_demo(tmp_path)),
            "--category-map",
            str(root / "semantickitti_learning_map.json"),
            "--output-labels",
            "out.jsonl",
        ],
        env=cli_env("http://127.0.0.1:9/", ""),
        cwd=tmp_path,
    )
    assert res.code == 0, res.stderr
    labels = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(labels) == 2
    for lab in labels:
        stem = lab["sample_name"].removesuffix(".bin")
        raw = np.fromfile(root / "semantickitti" / f"{stem}.label", dtype="<u4")
        assert len(lab["attributes"]["point_annotations"]) == raw.size


def categories_file_of_demo(tmp: Path) -> Path:
    import sys

    root = Path(__file__).resolve().parents[2] / "sample_data"
    sys.path.insert(0, str(root))
    try:
        import pcsegdata
    finally:
        sys.path.remove(str(root))
    path = tmp / "demo_cats.json"
    path.write_text(json.dumps({"format_version": "0.1", "categories": pcsegdata.categories()}))
    return path

"""One sample, two labels, once names are resolved (issue 12, part 3).

A ``sample_name`` row and a ``sample_uuid`` row of the same sample, or two
file names that ``--match stem`` maps to one sample, are two labels for one
(sample, label set). They used to pass the duplicate check (their keys differ
as written) and the last one silently won. Now they are duplicates like any
others wherever the dataset is known: an upload, a dry run with an API, and
``--output-labels`` with a dataset. The official SDK reads back which label won.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from segments import SegmentsClient
from segments.exceptions import NotFoundError
from tests.e2e.conftest import Env, MakeEnv, prediction_row, sample_uuid

from clikit import write_jsonl


def sdk(env: Env) -> SegmentsClient:
    return SegmentsClient(api_key=env.key, api_url=env.sandbox.url)


def _pair(tmp_path: Path, second: dict[str, Any]) -> Path:
    """Row 1 names sample 2 by uuid (score 0.1); row 3 names it again as ``second``."""
    first = {**prediction_row(2), "score": 0.1}
    return write_jsonl(tmp_path / "p.jsonl", [first, prediction_row(3), second])


BY_NAME = {**prediction_row(2, by_name=True), "score": 0.7}


def test_name_and_uuid_of_one_sample_fail_naming_both_lines(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = make_env(6)
    preds = _pair(tmp_path, BY_NAME)
    res = env.run(preds, "--dataset", "test/big", "--json")
    assert res.code == 1, res.stderr
    report = res.report()
    assert report["failed_by_reason"] == {"duplicate row": 2}
    assert report["counts"]["uploaded"] == 1
    assert "same sample and label set as line 3" in res.stderr
    assert "same sample and label set as line 1" in res.stderr
    with pytest.raises(NotFoundError):
        sdk(env).get_label(sample_uuid(2), "ground-truth")


def test_on_duplicate_last_keeps_the_later_row(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(6)
    preds = _pair(tmp_path, BY_NAME)
    res = env.run(preds, "--dataset", "test/big", "--json", "--on-duplicate", "last")
    assert res.code == 0, res.stderr
    assert res.report()["skipped_by_reason"] == {"superseded": 1}
    assert env.label_puts() == 2
    assert sdk(env).get_label(sample_uuid(2), "ground-truth").score == 0.7


def test_two_file_names_match_stem_maps_to_one_sample(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(6)
    a = {**prediction_row(2), "score": 0.2}
    del a["sample_uuid"]
    a["sample_name"] = "frame_00002.png"
    b = {**a, "sample_name": "frame_00002.jpeg", "score": 0.8}
    preds = write_jsonl(tmp_path / "p.jsonl", [a, b])
    res = env.run(preds, "--dataset", "test/big", "--match", "stem", "--json")
    assert res.code == 1, res.stderr
    assert res.report()["failed_by_reason"] == {"duplicate row": 2}
    res = env.run(
        preds, "--dataset", "test/big", "--match", "stem", "--on-duplicate", "last", "--json"
    )
    assert res.code == 0, res.stderr
    assert sdk(env).get_label(sample_uuid(2), "ground-truth").score == 0.8


def test_dry_run_with_an_api_finds_them_too(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(6)
    preds = _pair(tmp_path, BY_NAME)
    res = env.run(preds, "--dataset", "test/big", "--dry-run", "--json")
    assert res.code == 1, res.stderr
    assert res.report()["failed_by_reason"] == {"duplicate row": 2}
    assert env.label_puts() == 0


def test_output_labels_with_a_dataset_keeps_one_label(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(6)
    preds = _pair(tmp_path, BY_NAME)
    out = tmp_path / "labels.jsonl"
    res = env.run(preds, "--dataset", "test/big", "--output-labels", out, "--on-duplicate", "last")
    assert res.code == 0, res.stderr
    labels = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(lab["sample_uuid"], lab["score"]) for lab in labels] == [
        (sample_uuid(3), 0.9),
        (sample_uuid(2), 0.7),
    ]
    # Fed back in, the file uploads one label per sample; the SDK reads the winner.
    res = env.run(out, "--dataset", "test/big")
    assert res.code == 0, res.stderr
    assert sdk(env).get_label(sample_uuid(2), "ground-truth").score == 0.7


def test_offline_dry_run_cannot_resolve_names_and_says_nothing_false(
    tmp_path: Path, make_env: MakeEnv
) -> None:
    # No dataset: a name and a uuid cannot be compared, so both are labels.
    env = make_env(6)
    preds = _pair(tmp_path, BY_NAME)
    cats = tmp_path / "cats.json"
    cats.write_text(
        json.dumps(
            {
                "categories": [
                    {"id": i + 1, "name": n}
                    for i, n in enumerate(["car", "truck", "pedestrian", "cyclist", "traffic_sign"])
                ]
            }
        )
    )
    res = env.run(preds, "--dry-run", "--json", "--categories", cats, SEGMENTS_API_KEY="")
    assert res.code == 0, res.stderr
    assert res.report()["labels"]["converted"] == 3


def _yolo_twice(tmp_path: Path) -> list[str]:
    """Two YOLO label folders, each with a file for the image of sample 2."""
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (100, 100)).save(images / "frame_00002.jpg", "PNG")
    names = tmp_path / "classes.names"
    names.write_text("car\ntruck\n")
    for folder, line in (("run_a", "0 0.5 0.5 0.2 0.2"), ("run_b", "1 0.4 0.4 0.2 0.2 0.9")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "frame_00002.txt").write_text(line + "\n")
    return [
        "run_a",
        "run_b",
        "--format",
        "yolo",
        "--yolo-names",
        str(names),
        "--images",
        str(images),
    ]


def test_two_detector_files_of_one_image_are_duplicates(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(6)
    args = [*_yolo_twice(tmp_path), "--dataset", "test/big", "--json"]
    res = env.run(*args)
    assert res.code == 1, res.stderr
    report = res.report()
    assert report["failed_by_reason"] == {"duplicate row": 2}
    assert "same sample and label set as run_b/frame_00002.txt:1" in res.stderr
    assert env.label_puts() == 0
    res = env.run(*args, "--on-duplicate", "last")
    assert res.code == 0, res.stderr
    assert res.report()["skipped_by_reason"] == {"superseded": 1}
    label = sdk(env).get_label(sample_uuid(2), "ground-truth")
    assert [a.category_id for a in label.attributes.annotations] == [2]  # truck, from run_b

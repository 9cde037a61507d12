"""The CLI's offline modes: --dry-run, --output-labels, --print-schema, --json.

Each test runs the real entry point in a subprocess and checks the exit code,
what went to stdout and what went to stderr.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from segments.typing import ImageVectorLabelAttributes

from .conftest import SAMPLE, Run

CATS = str(SAMPLE / "categories.json")


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_dry_run_over_every_sample_file(run: Run, tmp_path: Path) -> None:
    # predictions.json and predictions.jsonl would share one failures file
    # (refused, see tests/e2e/test_output_paths.py): the JSON document goes in
    # under another name.
    doc = tmp_path / "document.json"
    doc.write_bytes((SAMPLE / "predictions.json").read_bytes())
    files = [SAMPLE / "predictions.jsonl", SAMPLE / "predictions.csv", doc]
    res = run(*files, "--categories", CATS, "--dry-run", "--json")
    assert res.code == 0, res.stderr
    report = json.loads(res.stdout)
    csv_rows = len((SAMPLE / "predictions.csv").read_text().splitlines()) - 1
    jsonl_rows = len((SAMPLE / "predictions.jsonl").read_text().splitlines())
    json_rows = len(json.loads((SAMPLE / "predictions.json").read_text()))
    rows = csv_rows + jsonl_rows + json_rows
    assert report["counts"] == {"rows": rows, "uploaded": 0, "skipped": rows, "failed": 0}
    assert report["skipped_by_reason"] == {"dry run": rows}
    assert report["mode"] == "dry-run (offline)"
    # 12 JSONL images + 12 CSV images into ground-truth; 4 JSON rows into predictions.
    assert report["labels"]["by_labelset"] == {"ground-truth": 24, "predictions": 4}
    assert set(report["annotations"]["by_type"]) == {"bbox", "polygon", "polyline", "point"}
    assert report["exit_code"] == 0
    assert "Plan (dry run" in res.stderr
    assert "rows read" in res.stderr


def test_output_labels_validate_under_the_sdk(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "labels.jsonl"
    res = run(SAMPLE / "predictions.jsonl", "--categories", CATS, "--output-labels", out)
    assert res.code == 0, res.stderr
    labels = read_jsonl(out)
    assert len(labels) == 12
    for label in labels:
        assert label["label_status"] == "PRELABELED"
        assert label["labelset"] == "ground-truth"
        attrs = label["attributes"]
        model = ImageVectorLabelAttributes.model_validate(attrs)
        assert model.model_dump(mode="json", exclude_unset=True) == attrs


def test_bad_rows_are_reported_with_file_line_and_field(run: Run, tmp_path: Path) -> None:
    src = tmp_path / "preds.jsonl"
    src.write_text(
        '{"sample_name": "a.jpg", "annotations": [{"category": "car", "bbox": [1, 2, 30, 40]}]}\n'
        '{"sample_name": "b.jpg", "annotations": [{"category": "cra", "bbox": [1, 2, 30, 40]}]}\n'
        "{not json\n"
        '{"sample_name": "c.jpg", "annotations": [{"category": "car", "bbox": [1, 2, 1, 40]}]}\n'
    )
    out = tmp_path / "labels.jsonl"
    res = run(src, "--categories", CATS, "--output-labels", out, "--json")
    assert res.code == 1
    assert "preds.jsonl:2: annotations[0].category" in res.stderr
    assert "car" in res.stderr  # the suggestion for "cra"
    assert "preds.jsonl:3:" in res.stderr
    assert "preds.jsonl:4: annotations[0]" in res.stderr
    report = json.loads(res.stdout)
    assert report["counts"] == {"rows": 4, "uploaded": 0, "skipped": 1, "failed": 3}
    assert report["labels"]["converted"] == 1
    assert report["annotations"]["total"] == 1
    # The good row is still converted.
    assert [lab["sample_name"] for lab in read_jsonl(out)] == ["a.jpg"]


def test_duplicates_fail_both_rows_unless_last_wins(run: Run, tmp_path: Path) -> None:
    src = tmp_path / "dup.jsonl"
    row = '{"sample_name": "a.jpg", "annotations": [{"category_id": 1, "bbox": [1, 2, 30, %d]}]}\n'
    src.write_text(row % 40 + row % 50 + '{"sample_name": "b.jpg", "annotations": []}\n')
    res = run(src, "--dry-run", "--json")
    assert res.code == 1
    assert "dup.jsonl:1:" in res.stderr
    assert "line 2" in res.stderr
    assert "dup.jsonl:2:" in res.stderr
    assert "line 1" in res.stderr
    assert json.loads(res.stdout)["failed_by_reason"] == {"duplicate row": 2}

    out = tmp_path / "labels.jsonl"
    res = run(src, "--on-duplicate", "last", "--output-labels", out, "--json")
    assert res.code == 0, res.stderr
    labels = {lab["sample_name"]: lab for lab in read_jsonl(out)}
    assert labels["a.jpg"]["attributes"]["annotations"][0]["points"] == [[1, 2], [30, 50]]
    assert json.loads(res.stdout)["skipped_by_reason"] == {
        "superseded": 1,
        "written to --output-labels": 2,
    }


def test_stdin_and_gzip(run: Run, tmp_path: Path) -> None:
    data = (SAMPLE / "predictions.jsonl").read_bytes()
    res = run("-", "--categories", CATS, "--dry-run", "--json", stdin=data)
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["labels"]["converted"] == 12
    gz = tmp_path / "p.jsonl.gz"
    gz.write_bytes(gzip.compress(data))
    res = run(gz, "--categories", CATS, "--dry-run", "--json")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["labels"]["converted"] == 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "no input files", id="no-files"),
        pytest.param(["missing.jsonl", "--dry-run"], "missing.jsonl", id="missing-file"),
        pytest.param(
            ["{sample}", "--dry-run", "--label-status", "DONE"], "DONE", id="bad-label-status"
        ),
        pytest.param(["{sample}", "--dry-run", "--bbox-format", "xy"], "xy", id="bad-bbox-format"),
        pytest.param(
            ["{sample}", "--dry-run", "--categories", "nope.json"], "nope.json", id="bad-categories"
        ),
    ],
)
def test_usage_errors_exit_2(run: Run, args: list[str], message: str) -> None:
    res = run(*[a.replace("{sample}", str(SAMPLE / "predictions.jsonl")) for a in args])
    assert res.code == 2, res.stderr
    assert message in res.stderr
    assert res.stdout == ""


def test_print_schema_is_a_json_schema_on_stdout(run: Run) -> None:
    res = run("--print-schema")
    assert res.code == 0
    schema = json.loads(res.stdout)
    text = json.dumps(schema)
    for key in ("sample_uuid", "sample_name", "annotations", "attributes", "labelset", "score"):
        assert key in text
    assert res.stderr == ""


def test_python_dash_m_and_help(run: Run) -> None:
    res = run("--help")
    assert res.code == 0
    for flag in ("--dry-run", "--labelset", "--bbox-format", "--categories", "--min-score"):
        assert flag in res.stdout

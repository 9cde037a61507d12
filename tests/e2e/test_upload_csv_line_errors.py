"""Each line of a failed CSV/TSV label carries its own error in the failures file.

The lines of one sample make one label, so one bad line fails them all. In
``<input>.failed.csv`` (or ``.tsv``) a bad line's ``_error`` is its own error
(naming its column); the label's fine lines say they have no error of their
own and name the input line that failed them; a label that fails as a whole
(no such sample) gives every line the same message. Fixing the bad line in the
failures file and running the printed retry command uploads the whole label,
read back with the official Segments SDK. All through the real CLI against the
in-process sandbox.
"""

from __future__ import annotations

import csv
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from segments import SegmentsClient

from clikit import write_jsonl

from .conftest import DEMO, MakeEnv, sample_uuid

NOT_OWN = "no error of its own; not uploaded because its label failed: "
COLUMNS = ["sample_name", "category", "xmin", "ymin", "xmax", "ymax", "score"]
FAILING = "frame_00001.jpg"
GHOST = "ghost.jpg"  # no such sample in the dataset
CATEGORY_IDS = {c["name"]: c["id"] for c in DEMO["task_attributes"]["categories"]}

Line = list[str]


@dataclass(frozen=True)
class Case:
    """A 3-line label of ``FAILING`` with some bad lines: ``bad`` maps a line's index
    in the label to (the start of its own error, the line as fixed)."""

    id: str
    fmt: str
    label: list[Line]
    bad: dict[int, tuple[str, Line]]


def _line(category: str, box: tuple[int, int, int, int], score: str = "0.9") -> Line:
    return [FAILING, category, *map(str, box), score]


CASES = [
    Case(
        "csv-unknown-category-in-the-middle",
        "csv",
        [_line("car", (1, 2, 30, 40)), _line("bus", (5, 5, 50, 50)), _line("car", (9, 9, 60, 60))],
        {1: ("category: unknown category 'bus'", _line("truck", (5, 5, 50, 50)))},
    ),
    Case(
        "tsv-unknown-category-last",
        "tsv",
        [_line("car", (1, 2, 30, 40)), _line("car", (5, 5, 50, 50)), _line("bus", (9, 9, 60, 60))],
        {2: ("category: unknown category 'bus'", _line("pedestrian", (9, 9, 60, 60)))},
    ),
    Case(
        "csv-two-bad-lines-score-and-category",
        "csv",
        [
            _line("car", (1, 2, 30, 40), score="high"),
            _line("car", (5, 5, 50, 50)),
            _line("bus", (9, 9, 60, 60)),
        ],
        {
            0: ("score: ", _line("car", (1, 2, 30, 40), score="0.7")),
            2: ("category: unknown category 'bus'", _line("truck", (9, 9, 60, 60))),
        },
    ),
]


def _write(path: Path, fmt: str, rows: list[Line]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter="\t" if fmt == "tsv" else ",")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def _read(path: Path, fmt: str) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t" if fmt == "tsv" else ","))


def _retry_args(stderr: str) -> list[str]:
    """The arguments of the retry command the summary printed."""
    (line,) = [ln for ln in stderr.splitlines() if "retry with:" in ln]
    args = shlex.split(line.split("retry with:", 1)[1])
    assert args[0] == "upload-preds"
    return args[1:]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_line_of_a_failed_label_has_its_own_error(
    make_env: MakeEnv, tmp_path: Path, case: Case
) -> None:
    env = make_env(4)
    src = tmp_path / f"preds.{case.fmt}"
    fine = [["frame_00002.jpg", "car", "1", "1", "20", "20", "0.8"]] * 2
    ghost = [[GHOST, "car", "1", "1", "20", "20", "0.8"], [GHOST, "truck", "2", "2", "9", "9", ""]]
    # Lines 2-4: the failing label; 5-6 upload; 7-8 name no sample.
    _write(src, case.fmt, [*case.label, *fine, *ghost])
    res = env.run(src, "--dataset", "test/big", "--json")
    assert res.code == 1, res.stderr
    report = res.report()
    assert report["counts"] == {"rows": 7, "uploaded": 2, "skipped": 0, "failed": 5}
    # The label counts under what is wrong with it, not under "another line failed".
    first_bad = case.bad[min(case.bad)][0]
    reason = "unknown category" if first_bad.startswith("category") else "invalid value"
    assert report["failed_by_reason"][reason] == 3, report["failed_by_reason"]
    assert report["failed_by_reason"]["unknown sample"] == 2

    failures = tmp_path / f"preds.failed.{case.fmt}"
    assert report["failures_files"] == [str(failures)]
    text = failures.read_text()
    assert env.key not in text
    rows = _read(failures, case.fmt)
    assert list(rows[0]) == [*COLUMNS, "_error"]
    label = [r for r in rows if r["sample_name"] == FAILING]
    assert [[r[c] for c in COLUMNS] for r in label] == case.label
    bad_lines = [f"input line {n + 2}" for n in sorted(case.bad)]
    for n, row in enumerate(label):
        error = row["_error"]
        if n in case.bad:
            # Its own error only: its column, and nothing of the other bad line.
            assert error.startswith(case.bad[n][0]), error
            assert NOT_OWN not in error
            assert "input line" not in error
            assert not any(case.bad[m][0] in error for m in case.bad if m != n), error
        else:
            assert error.startswith(NOT_OWN), error
            owns = [case.bad[m][0] for m in sorted(case.bad)]
            for where, own in zip(bad_lines, owns, strict=True):
                assert f"{where}: {own}" in error, error
    # The fine lines of one label read alike; each bad line reads differently.
    assert len({r["_error"] for r in label}) == len(case.bad) + 1
    ghosts = [r for r in rows if r["sample_name"] == GHOST]
    assert len(ghosts) == 2
    assert ghosts[0]["_error"] == ghosts[1]["_error"] == "no sample named 'ghost.jpg' in test/big"

    # Fix the bad lines where the failures file says, drop the lines of no sample, retry.
    fixed = [
        case.bad[n][1] if n in case.bad else [r[c] for c in COLUMNS] for n, r in enumerate(label)
    ]
    _write(failures, case.fmt, fixed)
    again = env.run(*_retry_args(res.stderr), "--json")
    assert again.code == 0, again.stderr
    assert again.report()["counts"] == {"rows": 3, "uploaded": 3, "skipped": 0, "failed": 0}
    assert not (tmp_path / f"preds.failed.failed.{case.fmt}").exists()
    with SegmentsClient(env.key, api_url=env.sandbox.url) as sdk:
        uploaded = sdk.get_label(sample_uuid(1), "ground-truth")
    assert uploaded.attributes is not None
    annotations = uploaded.attributes.model_dump()["annotations"]
    assert sorted(a["category_id"] for a in annotations) == sorted(
        CATEGORY_IDS[line[1]] for line in fixed
    )
    assert sorted(a["points"] for a in annotations) == sorted(
        [[float(x0), float(y0)], [float(x1), float(y1)]] for _, _, x0, y0, x1, y1, _ in fixed
    )


def test_a_json_row_is_one_label_with_its_error(make_env: MakeEnv, tmp_path: Path) -> None:
    """JSONL rows are unaffected: the row is the label, its ``_error`` the label's message."""
    env = make_env(3)
    row = {
        "sample_uuid": sample_uuid(1),
        "annotations": [
            {"category": "car", "bbox": [1, 2, 30, 40]},
            {"category": "bus", "bbox": [1, 2, 30, 40]},
        ],
    }
    src = write_jsonl(tmp_path / "preds.jsonl", [row])
    res = env.run(src, "--json")
    assert res.code == 1, res.stderr
    failures = tmp_path / "preds.failed.jsonl"
    (written,) = [json.loads(line) for line in failures.read_text().splitlines()]
    error = written.pop("_error")
    assert written == row
    assert error.startswith("annotations[1].category: unknown category 'bus'"), error
    # The same words as the summary's example of that row, which names the sample.
    example = f"{src}:1 {sample_uuid(1)}: {error}"
    assert res.report()["failure_examples"]["unknown category"] == [example]
    assert env.key not in failures.read_text()

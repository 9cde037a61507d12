"""A dry run sends nothing and writes nothing it was not asked to write.

Issue 12, part 6: a dry run wrote failures files on its own and printed a
"retry" command that kept ``--dry-run``; its summary said "skipped N" and
"would upload N" for the same N rows, so the numbers did not add up to the
rows read.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import MakeEnv, prediction_row

from clikit import write_jsonl


def _rows(n: int, bad: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [prediction_row(i) for i in range(n)]
    for i in range(bad):
        rows[i] = {"sample_uuid": rows[i]["sample_uuid"], "annotations": [{"bbox": [1, 2]}]}
    return rows


def test_dry_run_writes_no_failures_file_unless_asked(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(10)
    (tmp_path / "in").mkdir()
    preds = write_jsonl(tmp_path / "in" / "p.jsonl", _rows(10, 2))
    res = env.run(preds, "--dry-run", "--dataset", "test/big", "--json")
    assert res.code == 1, res.stderr
    assert res.report()["failures_files"] == []
    assert [p.name for p in (tmp_path / "in").iterdir()] == ["p.jsonl"]
    assert "retry" not in res.stderr
    assert "--failures" in res.stderr  # says how to get the failed rows written


def test_dry_run_failures_file_when_asked_says_it_is_for_checking_again(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = make_env(10)
    preds = write_jsonl(tmp_path / "p.jsonl", _rows(10, 2))
    fails = tmp_path / "bad.jsonl"
    res = env.run(preds, "--dry-run", "--dataset", "test/big", "--failures", fails)
    assert res.code == 1, res.stderr
    assert len(fails.read_text().splitlines()) == 2
    # Only the failed rows are in the file: an upload of it alone would not send the
    # other eight, so the command printed checks the fixed rows again, as a dry run.
    line = next(
        ln
        for ln in res.stderr.splitlines()
        if "bad.jsonl --dry-run" in ln
        or ("bad.jsonl" in ln and "--dry-run" in ln and "upload-preds" in ln)
    )
    assert "check" in line
    assert "retry with" not in res.stderr


def test_dry_run_summary_adds_up_to_the_rows_read(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(10, {0: "LABELED"})
    # 10 rows: row 1 fails, row 0 is superseded by row 9 (sample 0, protected),
    # the other 7 would be uploaded.
    rows = _rows(10, 2)
    rows[0] = prediction_row(0)
    preds = write_jsonl(tmp_path / "p.jsonl", [*rows[:9], prediction_row(0)])
    res = env.run(preds, "--dry-run", "--dataset", "test/big", "--on-duplicate", "last")
    assert res.code == 1, res.stderr
    summary = res.stderr[res.stderr.index("Plan (dry run: nothing was sent)") :]
    counts = {
        m[1].strip(): int(m[2].replace(",", ""))
        for m in re.finditer(r"^  (\S[\w ]*?)\s{2,}([\d,]+)", summary, re.M)
    }
    assert counts["rows read"] == 10
    assert counts["would upload"] == 7
    assert counts["skipped"] == 2  # superseded 1, protected 1; "would upload" is not a skip
    assert counts["failed"] == 1
    assert counts["would upload"] + counts["skipped"] + counts["failed"] == counts["rows read"]

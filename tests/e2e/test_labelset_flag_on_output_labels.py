"""``--labelset X`` on rows that name their own label set (issue 12, part 6).

An ``--output-labels`` file names the label set of every label, so feeding it
back with ``--labelset predictions`` sent everything to the set the rows name
without a word. The rule stays (a row's ``labelset`` wins, as documented), and
the run now warns once, naming how many rows kept their own set.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import MakeEnv, prediction_row

from clikit import write_jsonl


def test_labelset_flag_on_output_labels_rows_warns_once(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(6)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(i) for i in range(6)])
    out = tmp_path / "labels.jsonl"
    res = env.run(preds, "--dataset", "test/big", "--output-labels", out)
    assert res.code == 0, res.stderr
    res = env.run(out, "--dataset", "test/big", "--labelset", "predictions", "--json")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["labels"]["by_labelset"] == {"ground-truth": 6}
    [warning] = report["warnings"]
    assert "6 row(s) kept the label set they name, not --labelset 'predictions'" in warning
    assert "'ground-truth' (6)" in warning
    assert res.stderr.count("warning:") == 1


def test_no_warning_without_the_flag_or_when_rows_agree(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(6)
    rows = [{**prediction_row(i), "labelset": "predictions"} for i in range(3)]
    preds = write_jsonl(tmp_path / "p.jsonl", rows)
    res = env.run(preds, "--dataset", "test/big", "--json", "--dry-run")
    assert res.code == 0, res.stderr
    assert res.report()["warnings"] == []
    res = env.run(preds, "--dataset", "test/big", "--json", "--labelset", "predictions")
    assert res.code == 0, res.stderr
    assert res.report()["warnings"] == []
    assert "warning:" not in res.stderr

"""Output paths against input paths and each other, on real files and links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from upload_preds.errors import UsageError
from upload_preds.outputs import path_identity, refuse_clashing_outputs


@pytest.fixture
def preds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "preds.jsonl"
    path.write_text("{}\n")
    return path


def test_distinct_outputs_pass(preds: Path) -> None:
    refuse_clashing_outputs(
        [("input", "preds.jsonl"), ("input", "-")],
        [("--failures", "preds.failed.jsonl"), ("--report", "report.json")],
    )


@pytest.mark.parametrize("spelling", ["preds.jsonl", "./preds.jsonl", "sub/../preds.jsonl"])
def test_an_output_spelled_differently_is_still_the_input(preds: Path, spelling: str) -> None:
    (preds.parent / "sub").mkdir()
    with pytest.raises(UsageError, match=r"--report .* is the input 'preds.jsonl'"):
        refuse_clashing_outputs([("input", "preds.jsonl")], [("--report", spelling)])


def test_links_to_an_input_are_the_input(preds: Path) -> None:
    os.link(preds, "hard.jsonl")
    os.symlink(preds, "soft.jsonl")
    for link in ("hard.jsonl", "soft.jsonl"):
        with pytest.raises(UsageError, match="is the input"):
            refuse_clashing_outputs([("input", str(preds))], [("--failures", link)])


def test_another_file_read_counts_too(preds: Path) -> None:
    with pytest.raises(UsageError, match="is the --categories file"):
        refuse_clashing_outputs(
            [("input", "preds.jsonl"), ("--categories", "cats.json")],
            [("--output-labels", "cats.json")],
        )


def test_two_outputs_that_do_not_exist_yet_clash_by_resolved_path(preds: Path) -> None:
    with pytest.raises(UsageError, match="--report and --failures would both be written"):
        refuse_clashing_outputs(
            [("input", "preds.jsonl")],
            [("--report", "out/r.json"), ("--failures", "out/./r.json")],
        )


def test_identity_is_the_inode_when_the_file_exists(preds: Path) -> None:
    assert path_identity(preds)[0] == "file"
    assert path_identity("missing.json") == ("path", str(preds.parent / "missing.json"))

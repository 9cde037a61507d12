"""Issue 11, the run's side: never skip or lose a row, never a traceback for bad input.

Each test runs the real CLI against the sandbox and follows what it prints the
way a user would: the "resume with:" command after Ctrl-C, the "retry with:"
command after failures. Outputs that would overwrite an input or each other,
a malformed --api-url and a full disk are refused or stopped with a clear
message and the exit code of their kind; text from the input never reaches
the terminal with its control characters.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from clikit import write_jsonl
from upload_preds.sandbox import Faults

from .conftest import Env, MakeEnv, Result, prediction_row


def _printed_command(stderr: str, label: str) -> list[str]:
    """The command after ``label`` in the output, as argv for this Python."""
    (line,) = [ln for ln in stderr.splitlines() if label in ln]
    args = shlex.split(line.split(label, 1)[1])
    assert args[0] == "upload-preds"
    return [sys.executable, "-m", "upload_preds", *args[1:]]


def _follow(env: Env, argv: list[str]) -> Result:
    proc = subprocess.run(
        argv, capture_output=True, cwd=env.tmp, env=env.env(), timeout=180, check=False
    )
    res = Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert "Traceback" not in res.stderr, res.stderr
    return res


# ---------------------------------------------------------------------------
# The printed commands do what they say


def test_following_the_resume_command_sends_only_the_rest(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    n = 400
    env = make_env(n)
    env.sandbox.set_faults(Faults(latency_ms=30))
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(i) for i in range(n)])
    proc = env.popen(preds, "--concurrency", "4", "--no-resume", "--json")
    deadline = time.monotonic() + 60
    while env.label_puts() < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    first = json.loads(out)["counts"]["uploaded"]
    assert 0 < first < n
    resume = _printed_command(err.decode(), "resume with:")
    assert "--no-resume" not in resume
    env.sandbox.set_faults(Faults())
    res = _follow(env, resume)
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["skipped_by_reason"] == {"already uploaded": first}
    assert report["counts"]["uploaded"] == n - first
    assert env.label_puts() == n  # nothing was sent twice


def test_every_unparseable_jsonl_row_is_in_the_failures_file_and_retried(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = make_env(10)
    bad_category = prediction_row(3)
    bad_category["annotations"][0]["category"] = "cra"
    lines = [
        json.dumps(prediction_row(0)),
        "{this is not json",
        json.dumps(bad_category),
        '["an", "array"]',
        '{"sample_uuid": "truncated", "annotations": [',
        json.dumps(prediction_row(1)),
        "\t",  # a blank line: a notice, not a failure
        json.dumps({**prediction_row(2), "annotations": [{"category": "x", "bbox": [1, 2]}]}),
    ]
    preds = tmp_path / "preds.jsonl"
    preds.write_text("\n".join(lines) + "\n")
    res = env.run(preds, "--json")
    assert res.code == 1, res.stderr
    report = res.report()
    assert report["counts"] == {"rows": 7, "uploaded": 2, "skipped": 0, "failed": 5}
    failures = tmp_path / "preds.failed.jsonl"
    written = failures.read_text().splitlines()
    assert len(written) == 5  # every failed row, the unparseable ones too
    assert sum('"_raw"' in line for line in written) == 3
    assert all('"_error"' in line for line in written)

    again = _follow(env, [*_printed_command(res.stderr, "retry with:"), "--json"])
    assert again.code == 1, again.stderr
    assert again.report()["failed_by_reason"] == report["failed_by_reason"]
    assert again.report()["counts"]["failed"] == 5


def test_every_unparseable_csv_record_is_in_the_failures_file_and_retried(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = make_env(10)
    rows = [
        "sample_uuid,category,xmin,ymin,xmax,ymax",
        f"{prediction_row(0)['sample_uuid']},car,1,2,30,40",
        f"{prediction_row(1)['sample_uuid']},car,1,2",  # ragged
        f'{prediction_row(2)["sample_uuid"]},"car"x,1,2,30,40',  # text after a closing quote
        f'{prediction_row(3)["sample_uuid"]},"car,1,2,30,40',  # a quote that never closes
        f"{prediction_row(4)['sample_uuid']},truck,1,2,30,40",
        f"{prediction_row(5)['sample_uuid']},bus,1,2,30,40",  # parsed, but not a category
    ]
    preds = tmp_path / "preds.csv"
    preds.write_text("\n".join(rows) + "\n")
    res = env.run(preds, "--json")
    assert res.code == 1, res.stderr
    report = res.report()
    assert report["counts"]["failed"] == 4
    failures = tmp_path / "preds.failed.csv"
    assert failures.read_text().count("\n") == 5  # the header and the four records
    again = _follow(env, [*_printed_command(res.stderr, "retry with:"), "--json"])
    assert again.code == 1, again.stderr
    assert again.report()["failed_by_reason"] == report["failed_by_reason"]


# ---------------------------------------------------------------------------
# Outputs that would overwrite an input or each other


def _assert_refused(env: Env, res: Result, *words: str) -> None:
    assert res.code == 2, res.stderr
    assert "error:" in res.stderr
    for word in words:
        assert word in res.stderr
    assert env.sandbox.stats()["total_requests"] == 0  # refused before anything was sent


@pytest.mark.parametrize("dry_run", [False, True], ids=["upload", "dry-run"])
def test_two_inputs_with_one_failures_file_are_refused(
    make_env: MakeEnv, tmp_path: Path, dry_run: bool
) -> None:
    env = make_env(4)
    env.sandbox.reset_stats()
    a = tmp_path / "a"
    a.mkdir()
    write_jsonl(a / "preds.jsonl", [prediction_row(0)])
    (a / "preds.json").write_text(json.dumps([prediction_row(1)]))
    # A dry run writes failed rows only when asked (--failures): then it refuses too.
    extra = ["--dry-run", "--failures", str(a)] if dry_run else []
    res = env.run(a / "preds.jsonl", a / "preds.json", *extra)
    _assert_refused(env, res, "preds.failed.jsonl", "a/preds.jsonl", "a/preds.json")
    if dry_run:  # not asked: nothing to write, nothing to refuse
        assert env.run(a / "preds.jsonl", a / "preds.json", "--dry-run").code == 0


def test_two_same_named_inputs_into_one_failures_folder_are_refused(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = make_env(4)
    env.sandbox.reset_stats()
    for folder, i in (("x", 0), ("y", 1)):
        (tmp_path / folder).mkdir()
        write_jsonl(tmp_path / folder / "preds.jsonl", [prediction_row(i)])
    res = env.run("x/preds.jsonl", "y/preds.jsonl", "--failures", "out")
    _assert_refused(env, res, "out/preds.failed.jsonl")


@pytest.mark.parametrize(
    ("option", "dry_run"),
    [
        ("--failures", False),
        ("--failures", True),
        ("--report", False),
        ("--report", True),
        ("--output-labels", False),
        ("--output-labels", True),
    ],
)
def test_an_output_pointing_at_an_input_is_refused(
    make_env: MakeEnv, tmp_path: Path, option: str, dry_run: bool
) -> None:
    env = make_env(4)
    env.sandbox.reset_stats()
    preds = write_jsonl(tmp_path / "preds.jsonl", [prediction_row(0), {"bad": 1}])
    before = preds.read_bytes()
    link = tmp_path / "link.jsonl"
    os.link(preds, link)  # the same file under another name
    extra = ["--dry-run"] if dry_run else []
    for target in ("preds.jsonl", "./preds.jsonl", str(link)):
        res = env.run("preds.jsonl", option, target, *extra)
        _assert_refused(env, res, option, "input")
        assert preds.read_bytes() == before


def test_two_outputs_on_one_path_are_refused(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(4)
    env.sandbox.reset_stats()
    preds = write_jsonl(tmp_path / "preds.jsonl", [prediction_row(0)])
    res = env.run(preds, "--report", "out.json", "--failures", "./out.json")
    _assert_refused(env, res, "--failures", "--report")


# ---------------------------------------------------------------------------
# A malformed --api-url, a full disk


@pytest.mark.parametrize(
    "url",
    [
        "http://user:{key}@127.0.0.1:{port}/",
        "http://127.0.0.1:{port}\\@evil.example/",
        "http://127.0.0.1:1:{port}/",
        "127.0.0.1:{port}",
        "ftp://127.0.0.1:{port}/",
        "http://127.0.0.1:{port}/\x1b[2J",
    ],
    ids=["credentials", "backslash", "two-ports", "no-scheme", "ftp", "control"],
)
def test_a_malformed_api_url_exits_2_naming_the_flag(
    make_env: MakeEnv, tmp_path: Path, url: str
) -> None:
    env = make_env(4)
    env.sandbox.reset_stats()
    port = env.sandbox.url.rsplit(":", 1)[1].strip("/")
    preds = write_jsonl(tmp_path / "preds.jsonl", [prediction_row(0)])
    res = env.run(preds, "--api-url", url.format(key=env.key, port=port))
    assert res.code == 2, res.stderr
    assert "--api-url" in res.stderr
    assert "internal error" not in res.stderr
    assert env.key not in res.stderr + res.stdout
    assert "\x1b" not in res.stderr
    assert env.sandbox.stats()["total_requests"] == 0


def test_a_full_disk_stops_the_run_cleanly_and_a_rerun_resumes(
    make_env: MakeEnv, tmp_path: Path, tiny_disk: Path
) -> None:
    n = 400
    env = make_env(n)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row = prediction_row(i)
        if i % 2:  # every other row fails, with a long field that fills the disk
            row["annotations"][0]["category"] = "unknown"
            row["padding"] = "x" * 2000
        rows.append(row)
    preds = write_jsonl(tmp_path / "preds.jsonl", rows)
    disk = tiny_disk
    res = env.run(preds, "--failures", disk / "failed.jsonl", "--concurrency", "2")
    assert res.code == 3, res.stderr
    assert "No space left on device" in res.stderr
    assert "failed.jsonl" in res.stderr
    assert "internal error" not in res.stderr
    assert list(disk.iterdir()) == []  # no half-written or temporary file
    sent = env.label_puts()
    assert 0 < sent < n // 2
    again = env.run(preds, "--json")
    assert again.code == 1, again.stderr
    report = again.report()
    already = report["skipped_by_reason"].get("already uploaded", 0)
    assert sent - 2 <= already <= sent  # what was uploaded was recorded
    assert already + report["counts"]["uploaded"] == n // 2


# ---------------------------------------------------------------------------
# Control characters from the input never reach the terminal

ESCAPES = {
    "osc8": "\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07",
    "osc52": "\x1b]52;c;ZWNobyBwd25lZA==\x07",
    "csi": "\x1b[2J\x1b[1;31m",
    "c1": "\x9b31m\x9d0;title\x9c",
    "bidi": "\u202egpj.exe\u202c\u2066",
    "newline": "x\r\nSummary forged",
}
RAW = ("\x1b", "\x07", "\x9b", "\x9c", "\x9d", "\u202e", "\u202c", "\u2066", "\r")


@pytest.mark.parametrize("kind", list(ESCAPES))
def test_escapes_in_names_and_categories_are_printed_harmless(
    make_env: MakeEnv, tmp_path: Path, kind: str
) -> None:
    env = make_env(4)
    text = ESCAPES[kind]
    by_name = prediction_row(0, by_name=True)
    by_name["sample_name"] = f"frame{text}.jpg"  # no such sample: printed in the summary
    bad_category = prediction_row(1)
    bad_category["annotations"][0]["category"] = f"car{text}"  # printed in the error
    preds = write_jsonl(tmp_path / f"preds-{kind}.jsonl", [by_name, bad_category])
    res = env.run(preds, "--json")
    assert res.code == 1, res.stderr
    assert "frame" in res.stderr
    assert "car" in res.stderr
    for raw in RAW:
        assert raw not in res.stderr, (kind, raw, res.stderr)
        assert raw not in res.stdout
    examples = json.dumps(res.report()["failure_examples"], ensure_ascii=False)
    for raw in RAW:
        assert raw not in examples  # the JSON report's human text, decoded
    dry = env.run(preds, "--dry-run")
    for raw in RAW:
        assert raw not in dry.stderr, (kind, raw, dry.stderr)

"""Rendering for people, into a StringIO console: the summary, errors, status lines.

Rich's own tests render the same way: a console on a ``StringIO``, no
terminal, fixed width, so the output is what a CI log would hold.
"""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from upload_preds.errors import OutputError, UsageError
from upload_preds.plan import Tally
from upload_preds.printable import printable
from upload_preds.records import Location, RowError
from upload_preds.report import PlainProgress, render_error, render_plan, render_summary
from upload_preds.runreport import Counts, Snapshot, UploadReport

HOSTILE = "a\x1b]8;;https://evil.example/\x07b\x1b]52;c;eA==\x07\x1b[2J\x9b1m\u202ec\n"


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None, highlight=False, soft_wrap=True), out


def _assert_harmless(text: str) -> None:
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain name [with] brackets", "plain name [with] brackets"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\x9b", "\\x9b"),
        ("over\u202eride", "over\\u202eride"),
        ("two\nlines\r", "two\\x0alines\\x0d"),
        ("tab\there", "tab\\x09here"),
        ("ünïcødé ✓", "ünïcødé ✓"),
    ],
)
def test_printable_makes_control_characters_visible(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_summary_examples_and_reasons_are_printed_harmless() -> None:
    counts = Counts()
    counts.fail(f"server said {HOSTILE}", 2, f"p.jsonl:3 {HOSTILE}: no such sample")
    counts.skip("already uploaded", 1)
    report = UploadReport(mode="upload", counts=counts, tally=Tally(), plan=[])
    report.aborted = f"server failing: {HOSTILE}"
    report.failures_files = [f"dir{HOSTILE}/p.failed.jsonl"]
    console, out = _console()
    render_summary(console, report, retry_command=f"upload-preds 'x{HOSTILE}'")
    text = out.getvalue()
    _assert_harmless(text)
    assert "\\x1b]8;;https://evil.example/\\x07b" in text  # visible, not obeyed
    assert "failed           2 rows" in text
    assert "retry with:" in text
    data = report.to_dict()
    for key in ("failure_examples", "failed_by_reason", "aborted"):
        # Decoded JSON text, as a script reading the report would print it.
        _assert_harmless(json.dumps(data[key], ensure_ascii=False))


def test_plan_row_errors_are_printed_harmless() -> None:
    tally = Tally()
    tally.add_error(
        RowError(Location("p.jsonl", 4), "annotations[0].category", "unknown category", HOSTILE)
    )
    console, out = _console()
    render_plan(console, tally, names={})
    text = out.getvalue()
    _assert_harmless(text)
    assert "p.jsonl:4: annotations[0].category: a\\x1b]8;;" in text


def test_an_error_and_its_hint_are_printed_harmless() -> None:
    console, out = _console()
    render_error(console, UsageError(f"bad file {HOSTILE}", hint=f"try {HOSTILE}"))
    text = out.getvalue()
    _assert_harmless(text)
    assert text.startswith("error: bad file a\\x1b")
    assert "  hint: try a" in text


def test_output_error_exits_3() -> None:
    assert OutputError("disk full").exit_code == 3


def test_plain_progress_prints_a_status_line_per_interval() -> None:
    now = [0.0]
    console, out = _console()
    progress = PlainProgress(console, 10.0, lambda: now[0])
    progress.start(100)
    snap = Snapshot(
        done=40, total=100, uploaded=30, skipped=5, failed=5, retrying=1, elapsed=4.0,
        labels_per_s=7.5,
    )  # fmt: skip
    progress.update(snap)
    assert out.getvalue() == ""  # not yet: the first line comes after one interval
    now[0] = 10.0
    progress.update(snap)
    now[0] = 15.0
    progress.update(snap)
    lines = out.getvalue().splitlines()
    assert lines == [
        "[4s] 40/100 rows: 30 uploaded, 5 skipped, 5 failed, 1 retrying; 7.5 labels/s, ETA 6s"
    ]

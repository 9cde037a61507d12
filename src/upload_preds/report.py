"""Rendering for people: the plan, the summary, errors with hints (rich, stderr).

Everything here writes to a :class:`rich.console.Console` that the caller
creates (stderr in the CLI, a ``StringIO`` in tests), so that output tests are
deterministic and stdout stays free for the JSON report. Rich already honours
``NO_COLOR`` and drops control codes when the console is not a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from upload_preds.errors import UploadPredsError
from upload_preds.plan import Tally
from upload_preds.printable import printable
from upload_preds.records import RowError
from upload_preds.runreport import SENT_INSTEAD, Snapshot, UploadReport


def safe(text: str) -> str:
    """Text for a rich console: control characters made visible, markup escaped."""
    return escape(printable(text))


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _counts(counter: dict[str, int] | Sequence[tuple[str, int]]) -> str:
    items = counter.items() if isinstance(counter, dict) else counter
    return ", ".join(f"{k} {v:,}" for k, v in items)


def render_error(console: Console, err: UploadPredsError) -> None:
    """One error that stops the run, with its hint."""
    console.print(f"[bold red]error:[/] {safe(err.message)}")
    if err.hint:
        console.print(f"  [dim]hint:[/] {safe(err.hint)}")


def format_row_error(err: RowError) -> str:
    return str(err)


def _fidelity_rows(tally: Tally) -> list[tuple[str, str]]:
    """The plan's lines on what conversion did for the user: which --score-from rule
    gave labels without a score of their own one, and boxes put in order."""
    rows = []
    if tally.score_from == "none":
        rows.append(("label scores", "only the rows' own scores (--score-from none)"))
    elif tally.scores_derived or tally.score_from != "mean":
        rows.append(
            (
                "label scores",
                f"{_plural(tally.scores_derived, 'label')} scored by the {tally.score_from} of "
                f"their kept annotation scores (--score-from {tally.score_from}; a row's own "
                "score wins)",
            )
        )
    if tally.bbox_reordered:
        rows.append(("bbox corners reordered", f"{tally.bbox_reordered:,}"))
    return rows


def render_plan(
    console: Console,
    tally: Tally,
    *,
    names: dict[int, str],
    title: str = "Plan (dry run: nothing is sent)",
    min_score: float | None = None,
    object_score_attribute: str | None = None,
) -> None:
    """The plan: what was read, what would be uploaded, and what is wrong."""
    console.print(f"[bold]{safe(title)}[/]")
    rows = [
        ("rows read", f"{tally.rows:,}"),
        (
            "labels",
            f"{tally.label_count:,}"
            + (f" ({_counts(dict(sorted(tally.labels.items())))})" if tally.labels else ""),
        ),
        (
            "annotations",
            f"{tally.annotation_count:,}"
            + (
                f" ({_counts(tally.annotations_by_type.most_common())})"
                if tally.annotations_by_type
                else ""
            ),
        ),
    ]
    if tally.annotations_by_category:
        by_cat = [
            (names.get(cid, f"id {cid}"), n)
            for cid, n in tally.annotations_by_category.most_common()
        ]
        rows.append(("by category", _counts(by_cat)))
    if tally.filtered_annotations or min_score is not None:
        rows.append(
            (
                "filtered",
                f"{_plural(tally.filtered_annotations, 'annotation')} below --min-score"
                + (f" {min_score:g}" if min_score is not None else ""),
            )
        )
    rows.extend(_fidelity_rows(tally))
    if tally.unresolved_names:
        rows.append(
            (
                "sample names",
                f"{tally.unresolved_names:,} labels name their sample; names are resolved "
                "to uuids at upload time",
            )
        )
    for reason, n in sorted(tally.skipped.items()):
        rows.append((f"skipped ({reason})", _plural(n, "row")))
    rows.append(("invalid rows", f"{tally.failed_rows:,}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        console.print(f"  {key:<{width}}  {safe(value)}")
    if tally.object_scores_dropped and not object_score_attribute:
        console.print(
            f"  [yellow]note:[/] annotation scores in {_plural(tally.object_scores_dropped, 'label')} "
            "were used only for filtering (labels have no per-object score); pass "
            "--object-score-attribute NAME to keep them in each annotation's attributes"
        )
    if tally.notice_count:
        console.print(f"[yellow]{_plural(tally.notice_count, 'notice')}:[/]")
        for notice in tally.notices:
            console.print(f"  {safe(str(notice))}")
        if tally.notice_count > len(tally.notices):
            console.print(f"  ... and {tally.notice_count - len(tally.notices):,} more")
    render_row_errors(console, tally)


def render_row_errors(console: Console, tally: Tally) -> None:
    """Invalid rows grouped by reason, with the first examples as file:line: field: message."""
    if not tally.errors:
        return
    console.print(f"[bold red]Invalid rows: {tally.failed_rows:,}[/]")
    for reason, bucket in sorted(tally.errors.items(), key=lambda kv: -kv[1].count):
        console.print(f"  [red]{safe(reason)}[/] ({bucket.count:,})")
        for err in bucket.examples:
            console.print(f"    {safe(format_row_error(err))}")
        if bucket.count > len(bucket.examples):
            console.print(f"    ... and {bucket.count - len(bucket.examples):,} more")


# ---------------------------------------------------------------------------
# Upload progress and summary


class RichProgress:
    """The live progress bar on a terminal: done/total, labels/s, ETA and outcome counts."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]uploading[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=console,
            transient=False,
            refresh_per_second=8,
        )
        self._task: Any = None

    def start(self, total: int | None) -> None:
        self._task = self._progress.add_task("upload", total=total, rate="", counts="")
        self._progress.start()

    def update(self, snap: Snapshot) -> None:
        self._progress.update(
            self._task,
            completed=snap.done,
            total=snap.total,
            rate=f"{snap.labels_per_s:,.0f} labels/s",
            counts=(
                f"[green]{snap.uploaded:,} up[/] [yellow]{snap.skipped:,} skip[/] "
                f"[red]{snap.failed:,} fail[/] [cyan]{snap.retrying:,} retrying[/]"
            ),
        )

    def stop(self) -> None:
        self._progress.stop()


class PlainProgress:
    """One status line every ``interval`` seconds, for logs and CI (no control codes)."""

    def __init__(self, console: Console, interval: float, clock: Callable[[], float]) -> None:
        self._console = console
        self._interval = interval
        self._clock = clock
        self._next = 0.0

    def start(self, total: int | None) -> None:
        self._next = self._clock() + self._interval

    def update(self, snap: Snapshot) -> None:
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._interval
        self._console.print(printable(status_line(snap)), markup=False, highlight=False)

    def stop(self) -> None:
        """Nothing to tear down: the summary follows."""


def status_line(snap: Snapshot) -> str:
    total = f"/{snap.total:,}" if snap.total is not None else ""
    eta = ""
    if snap.total and snap.done and snap.elapsed > 0:
        rate = snap.done / snap.elapsed
        remaining = max(snap.total - snap.done, 0) / rate if rate > 0 else 0
        eta = f", ETA {remaining:,.0f}s"
    return (
        f"[{snap.elapsed:,.0f}s] {snap.done:,}{total} rows: {snap.uploaded:,} uploaded, "
        f"{snap.skipped:,} skipped, {snap.failed:,} failed, {snap.retrying:,} retrying; "
        f"{snap.labels_per_s:,.1f} labels/s{eta}"
    )


def render_summary(
    console: Console, report: UploadReport, *, retry_command: str | None, counts: bool = True
) -> None:
    """The end-of-run summary: counts, skips and failures by reason, speed, next steps.

    ``counts=False`` prints only the closing lines (files written, abort, hints):
    after an offline plan, which already showed the counts.
    """
    if counts:
        _render_counts(console, report)
    _render_tail(console, report, retry_command)


def _render_counts(console: Console, report: UploadReport) -> None:
    c = report.counts
    failed = sum(c.failed.values())
    skipped = sum(c.skipped.values())
    title = {
        "upload": "Summary",
        "dry-run": "Plan (dry run: nothing was sent)",
        "convert": "Converted (nothing was sent)",
    }.get(report.mode, "Summary")
    console.print(f"[bold]{safe(title)}[/]")
    rows = [
        ("rows read", f"{c.rows:,}"),
        ("labels uploaded", f"{c.labels_uploaded:,} ({c.uploaded:,} rows)"),
        ("skipped", f"{skipped:,} rows"),
        ("failed", f"{failed:,} rows"),
    ]
    # A run that sends nothing accounts the rows it would have sent (or wrote to
    # --output-labels) as skips with a reason of their own; the summary gives them
    # their own line instead, so that the lines add up to the rows read.
    instead = (
        {r: n for r, n in c.skipped.items() if r in SENT_INSTEAD} if report.mode != "upload" else {}
    )
    if report.mode == "upload":
        rows.extend(_fidelity_rows(report.tally))  # other modes show them in the plan
    else:
        rows[1] = ("labels converted", f"{report.tally.label_count:,}")
        skipped -= sum(instead.values())
        rows[2] = ("skipped", f"{skipped:,} rows")
        rows[2:2] = [(r, f"{n:,} rows") for r, n in instead.items()]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        console.print(f"  {key:<{width}}  {value}")
        if key == "skipped":
            for reason, n in c.skipped.most_common():
                if reason not in instead:
                    console.print(f"    [yellow]{safe(reason)}[/]: {n:,}")
    if report.mode == "upload":
        console.print(
            f"  {'retries':<{width}}  {report.retries:,} ({report.throttled:,} throttled)"
        )
        console.print(
            f"  {'elapsed':<{width}}  {report.elapsed_s:,.1f} s, {report.labels_per_s:,.1f} labels/s"
        )
        if report.guard_refresh_failures:
            # The guard ran on an older picture than planned: say how old.
            last = report.guard_last_refresh or "none this run (the snapshot before it)"
            console.print(
                f"  [yellow]guard refreshes failed[/]: {report.guard_refresh_failures:,} "
                f"(of {report.guard_refreshes:,} refreshes; last successful: {safe(last)}; "
                f"last error: {safe(report.guard_refresh_error or '?')})"
            )
    if failed:
        console.print("[bold red]Failed rows by reason[/]")
        for reason, n in c.failed.most_common():
            console.print(f"  [red]{safe(reason)}[/] ({n:,})")
            for example in c.examples.get(reason, []):
                console.print(f"    {safe(example)}")
            shown = len(c.examples.get(reason, []))
            if n > shown:
                console.print(f"    ... and {n - shown:,} more")


def _render_tail(console: Console, report: UploadReport, retry_command: str | None) -> None:
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {safe(warning)}")
    if report.failures_files:
        console.print("failed rows written to " + safe(", ".join(report.failures_files)))
        if retry_command and report.mode.startswith("dry-run"):
            # The file holds only the failed rows: uploading it alone would leave
            # the others unsent, so the command offered checks the fixes again.
            console.print(
                f"  fix them, then check them again with: [bold]{safe(retry_command)}[/]"
                "\n  (a dry run; upload with the original command once they pass)"
            )
        elif retry_command:
            console.print(f"  fix them, then retry with: [bold]{safe(retry_command)}[/]")
    elif report.mode.startswith("dry-run") and report.counts.failed.total():
        console.print("failed rows are not written by a dry run unless asked: add --failures FILE")
    if report.output_labels:
        console.print(f"labels written to {safe(report.output_labels)}")
    if report.aborted:
        console.print(f"[bold red]aborted:[/] {safe(report.aborted)}")
        if report.abort_hint:
            console.print(f"  [dim]hint:[/] {safe(report.abort_hint)}")
        console.print("  what was uploaded is recorded; rerun the same command to resume")
    if report.interrupted:
        console.print("[yellow]interrupted:[/] what was uploaded is recorded in the journal")
    if report.sandbox_db:
        db = safe(report.sandbox_db)
        console.print(f"sandbox database: {db}")
        console.print(
            f"  see the labels side by side: upload-preds-sandbox serve --db {db}"
            ", then open the URL it prints"
        )

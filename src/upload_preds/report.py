"""Rendering for people: the plan, the summary, errors with hints (rich, stderr).

Everything here writes to a :class:`rich.console.Console` that the caller
creates (stderr in the CLI, a ``StringIO`` in tests), so that output tests are
deterministic and stdout stays free for the JSON report. Rich already honours
``NO_COLOR`` and drops control codes when the console is not a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from upload_preds.errors import UploadPredsError
from upload_preds.pipeline import Tally
from upload_preds.records import RowError


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _counts(counter: dict[str, int] | Sequence[tuple[str, int]]) -> str:
    items = counter.items() if isinstance(counter, dict) else counter
    return ", ".join(f"{k} {v:,}" for k, v in items)


def render_error(console: Console, err: UploadPredsError) -> None:
    """One error that stops the run, with its hint."""
    console.print(f"[bold red]error:[/] {escape(err.message)}")
    if err.hint:
        console.print(f"  [dim]hint:[/] {escape(err.hint)}")


def format_row_error(err: RowError) -> str:
    return str(err)


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
    console.print(f"[bold]{escape(title)}[/]")
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
        console.print(f"  {key:<{width}}  {escape(value)}")
    if tally.object_scores_dropped and not object_score_attribute:
        console.print(
            f"  [yellow]note:[/] annotation scores in {_plural(tally.object_scores_dropped, 'label')} "
            "were used only for filtering (labels have no per-object score); pass "
            "--object-score-attribute NAME to keep them in each annotation's attributes"
        )
    if tally.notice_count:
        console.print(f"[yellow]{_plural(tally.notice_count, 'notice')}:[/]")
        for notice in tally.notices:
            console.print(f"  {escape(str(notice))}")
        if tally.notice_count > len(tally.notices):
            console.print(f"  ... and {tally.notice_count - len(tally.notices):,} more")
    render_row_errors(console, tally)


def render_row_errors(console: Console, tally: Tally) -> None:
    """Invalid rows grouped by reason, with the first examples as file:line: field: message."""
    if not tally.errors:
        return
    console.print(f"[bold red]Invalid rows: {tally.failed_rows:,}[/]")
    for reason, bucket in sorted(tally.errors.items(), key=lambda kv: -kv[1].count):
        console.print(f"  [red]{escape(reason)}[/] ({bucket.count:,})")
        for err in bucket.examples:
            console.print(f"    {escape(format_row_error(err))}")
        if bucket.count > len(bucket.examples):
            console.print(f"    ... and {bucket.count - len(bucket.examples):,} more")

"""What the command does once its options are parsed: run, render, write the report.

:func:`run_and_render` runs one :class:`~upload_preds.run.Run` on the
settings and inputs the command built, with the progress display that fits
stderr (a live bar on a terminal, a status line every ``--progress-interval``
seconds otherwise, nothing when quiet, dry or converting), then renders the
plan and the summary on stderr, writes ``--report`` whole or not at all, prints
``--json`` on stdout and returns the run's exit code. :func:`serve_sandbox`
starts the embedded sandbox for ``--sandbox``. Heavy modules are imported
inside the functions: ``--help`` and ``--version`` never need them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from upload_preds.commandlines import resume_command, retry_command
from upload_preds.errors import ExitCode


def serve_sandbox(console: Console, data: Path | None, quiet: bool) -> tuple[Any, str, str]:
    from upload_preds.sandbox import default_db_path, start_sandbox

    db = default_db_path()
    handle = start_sandbox(data=data, db=db)
    if not quiet:
        console.print(f"sandbox: serving at {handle.url} (database {handle.db_path})")
    # The sandbox listens on a new port each time: the journal knows it by its database.
    return handle, f"sandbox:{Path(handle.db_path).resolve()}", str(handle.db_path)


def run_and_render(
    console: Console,
    settings: Any,
    inputs: Any,
    *,
    journal_host: str | None,
    sandbox_db: str | None,
    json_report: bool,
) -> ExitCode:
    import asyncio

    from upload_preds.convert.categories import Categories
    from upload_preds.outputs import category_names
    from upload_preds.report import PlainProgress, RichProgress, render_plan, render_summary, safe
    from upload_preds.run import Run
    from upload_preds.runreport import ProgressSink

    progress: ProgressSink | None = None
    if not settings.quiet and not settings.dry_run and inputs.output_labels is None:
        if console.is_terminal:
            progress = RichProgress(console)
        else:
            progress = PlainProgress(console, settings.progress_interval, time.monotonic)

    def on_plan(line: str) -> None:
        if not settings.quiet:
            console.print(f"[dim]preflight:[/] {safe(line)}")

    run = Run(
        settings,
        inputs,
        progress=progress,
        on_plan=on_plan,
        handle_signals=True,
        sandbox_db=sandbox_db,
        journal_host=journal_host,
    )
    report = asyncio.run(run.execute())
    failed = sum(report.counts.failed.values())
    names: dict[int, str] = {}
    if inputs.categories_file is not None and report.mode == "dry-run (offline)":
        names = category_names(Categories.from_file(inputs.categories_file))
    elif run.categories is not None:
        names = category_names(run.categories)
    if report.mode != "upload" and (not settings.quiet or failed):
        render_plan(
            console,
            report.tally,
            names=names,
            title="Converted" if report.mode == "convert" else "Plan (dry run: nothing is sent)",
            min_score=inputs.convert.min_score,
            object_score_attribute=inputs.convert.object_score_attribute,
        )
    retry = None
    if report.failures_files:
        retry = retry_command(sys.argv[1:], inputs.paths, report.failures_files)
    counts_wanted = report.mode == "upload" or (report.mode == "dry-run" and not settings.quiet)
    render_summary(console, report, retry_command=retry, counts=counts_wanted)
    if report.interrupted:
        console.print(f"  resume with: [bold]{safe(resume_command(sys.argv[1:]))}[/]")
    data = report.to_dict()
    if settings.report is not None:
        _write_report(settings.report, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    if json_report:
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
    return report.exit_code


def _write_report(path: Path, data: bytes) -> None:
    """``--report``: written whole or not at all; a full disk is an OutputError (exit 3)."""
    from upload_preds.errors import OutputError
    from upload_preds.outputs import AtomicWriter

    writer: AtomicWriter | None = None
    try:
        writer = AtomicWriter(path)
        writer.write(data)
        writer.commit()
    except OSError as exc:
        if writer is not None:
            writer.abort()
        raise OutputError(
            f"cannot write the report {path}: {exc.strerror or exc}",
            hint="the run itself is done and recorded; free some space or pass another --report",
        ) from None

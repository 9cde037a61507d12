"""The ``upload-preds`` command line: options → settings → run → render → exit code.

Thin on purpose: every option is declared once as an ``Annotated`` alias
(with its environment variable where it has one), the work is done by the
library (:mod:`upload_preds.pipeline` and friends), and this module only
renders results and maps them to exit codes. There is one error boundary,
:func:`main`: an :class:`~upload_preds.errors.UploadPredsError` becomes a
one-line message with a hint and its exit code; anything else is an internal
error whose traceback is shown only with ``--debug``. Progress, the plan and
errors go to stderr; stdout carries only what was asked for (``--json``,
``--print-schema``).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console

from upload_preds.errors import ExitCode, UploadPredsError, UsageError
from upload_preds.records import LabelJob

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class BBoxFormat(str, Enum):
    xyxy = "xyxy"
    xywh = "xywh"
    cxcywh = "cxcywh"


class ScoreFrom(str, Enum):
    max = "max"
    mean = "mean"
    min = "min"


class OnDuplicateChoice(str, Enum):
    error = "error"
    last = "last"


class InputFormat(str, Enum):
    jsonl = "jsonl"
    json = "json"
    csv = "csv"
    tsv = "tsv"


Files = Annotated[
    list[str] | None,
    typer.Argument(
        help="Prediction files (JSONL, JSON, CSV, TSV, optionally .gz); '-' reads stdin.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    InputFormat | None,
    typer.Option("--format", help="Input format; default: from the extension, else the content."),
]
LabelsetOpt = Annotated[
    str,
    typer.Option(
        "--labelset",
        help="Target label set; 'ground-truth' makes pre-labels. A row's 'labelset' overrides it.",
    ),
]
LabelStatusOpt = Annotated[
    str, typer.Option("--label-status", help="Status of the labels sent.", show_default=True)
]
BBoxOpt = Annotated[
    BBoxFormat,
    typer.Option("--bbox-format", help="How four-number boxes are given: corners, or size."),
]
CategoriesOpt = Annotated[
    Path | None,
    typer.Option(
        "--categories",
        help="JSON file with the dataset's task_attributes (categories), for offline runs.",
        show_default=False,
    ),
]
MinScoreOpt = Annotated[
    float | None,
    typer.Option("--min-score", help="Drop annotations scored below this (counted in the plan)."),
]
ScoreFromOpt = Annotated[
    ScoreFrom | None,
    typer.Option("--score-from", help="Derive a label's score from its annotation scores."),
]
ObjectScoreOpt = Annotated[
    str | None,
    typer.Option(
        "--object-score-attribute",
        metavar="NAME",
        help="Keep each annotation's score in its attributes under NAME.",
    ),
]
OnDuplicateOpt = Annotated[
    OnDuplicateChoice,
    typer.Option(
        "--on-duplicate",
        help="Two JSON rows for one sample and label set: fail both, or keep the last.",
    ),
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Read, validate and convert; print the plan; send nothing."),
]
OutputLabelsOpt = Annotated[
    Path | None,
    typer.Option(
        "--output-labels",
        metavar="PATH",
        help="Write the converted labels as JSONL instead of uploading.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON report on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary and errors.")]
SchemaOpt = Annotated[
    bool, typer.Option("--print-schema", help="Print the JSON Schema of an input row and exit.")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")]


def _fail(console: Console, err: UploadPredsError) -> NoReturn:
    from upload_preds.report import render_error

    render_error(console, err)
    raise typer.Exit(int(err.exit_code))


@app.command()
def upload_preds(
    files: Files = None,
    fmt: FormatOpt = None,
    labelset: LabelsetOpt = "ground-truth",
    label_status: LabelStatusOpt = "PRELABELED",
    bbox_format: BBoxOpt = BBoxFormat.xyxy,
    categories: CategoriesOpt = None,
    min_score: MinScoreOpt = None,
    score_from: ScoreFromOpt = None,
    object_score_attribute: ObjectScoreOpt = None,
    on_duplicate: OnDuplicateOpt = OnDuplicateChoice.error,
    dry_run: DryRunOpt = False,
    output_labels: OutputLabelsOpt = None,
    json_report: JsonOpt = False,
    quiet: QuietOpt = False,
    print_schema: SchemaOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Upload model predictions to Segments.ai as pre-labels or into a label set."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if print_schema:
        from upload_preds.models import row_json_schema

        sys.stdout.write(orjson.dumps(row_json_schema(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        return
    try:
        code = _run(
            console,
            files=files or [],
            fmt=fmt.value if fmt else None,
            labelset=labelset,
            label_status=label_status,
            bbox_format=bbox_format.value,
            categories_file=categories,
            min_score=min_score,
            score_from=score_from.value if score_from else None,
            object_score_attribute=object_score_attribute,
            on_duplicate=on_duplicate.value,
            dry_run=dry_run,
            output_labels=output_labels,
            json_report=json_report,
            quiet=quiet,
        )
    except UploadPredsError as err:
        _fail(console, err)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except Exception as err:
        if debug:
            raise
        console.print(f"[bold red]internal error:[/] {type(err).__name__}: {err}")
        console.print("  [dim]hint:[/] rerun with --debug for the traceback, and report it")
        raise typer.Exit(70) from None
    raise typer.Exit(int(code))


def _run(
    console: Console,
    *,
    files: list[str],
    fmt: str | None,
    labelset: str,
    label_status: str,
    bbox_format: str,
    categories_file: Path | None,
    min_score: float | None,
    score_from: str | None,
    object_score_attribute: str | None,
    on_duplicate: str,
    dry_run: bool,
    output_labels: Path | None,
    json_report: bool,
    quiet: bool,
) -> ExitCode:
    from upload_preds.categories import Categories
    from upload_preds.convert import Converter, ConvertOptions
    from upload_preds.pipeline import AtomicWriter, Preparer, Tally, category_names, label_record
    from upload_preds.report import render_plan

    if not files:
        raise UsageError(
            "no input files",
            hint="name one or more prediction files, or '-' to read standard input",
        )
    if not dry_run and output_labels is None:
        raise UsageError(
            "nothing to do: uploading is not available in this version",
            hint="pass --dry-run to check the files, or --output-labels PATH to convert them",
        )
    cats = Categories.from_file(categories_file) if categories_file is not None else None
    try:
        options = ConvertOptions(
            default_labelset=labelset,
            label_status=label_status,
            bbox_format=bbox_format,  # type: ignore[arg-type]
            min_score=min_score,
            score_from=score_from,  # type: ignore[arg-type]
            object_score_attribute=object_score_attribute,
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    converter = Converter(options, cats)
    tally = Tally()
    writer = AtomicWriter(output_labels) if output_labels is not None else None
    try:
        with Preparer(
            files,
            converter,
            fmt=fmt,
            default_labelset=labelset,
            on_duplicate=on_duplicate,  # type: ignore[arg-type]
        ) as prep:
            for item in prep.items():
                tally.add(item)
                if writer is not None and isinstance(item, LabelJob):
                    writer.write(orjson.dumps(label_record(item)) + b"\n")
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.commit()
    code = ExitCode.OK if tally.failed_rows == 0 else ExitCode.ROWS_FAILED
    if not quiet or tally.failed_rows:
        render_plan(
            console,
            tally,
            names=category_names(cats),
            title="Plan (dry run: nothing is sent)" if dry_run else "Converted (nothing is sent)",
            min_score=min_score,
            object_score_attribute=object_score_attribute,
        )
    if writer is not None and not quiet:
        console.print(f"wrote {tally.label_count:,} labels to {output_labels}")
    if json_report:
        sys.stdout.write(orjson.dumps(plan_report(tally, code)).decode() + "\n")
    return code


def plan_report(tally: Any, code: ExitCode) -> dict[str, Any]:
    """The versioned JSON report of a dry run."""
    return {
        "version": 1,
        "mode": "dry-run",
        "counts": {
            "rows": tally.rows,
            "labels": tally.label_count,
            "annotations": tally.annotation_count,
            "failed": tally.failed_rows,
            "skipped": sum(tally.skipped.values()),
        },
        "labels_by_labelset": dict(tally.labels),
        "annotations_by_type": dict(tally.annotations_by_type),
        "annotations_by_category_id": {str(k): v for k, v in tally.annotations_by_category.items()},
        "filtered_annotations": tally.filtered_annotations,
        "unresolved_sample_names": tally.unresolved_names,
        "skipped_by_reason": dict(tally.skipped),
        "failed_by_reason": {reason: b.count for reason, b in tally.errors.items()},
        "exit_code": int(code),
    }


def main() -> None:
    """Console-script entry point."""
    app(prog_name="upload-preds")

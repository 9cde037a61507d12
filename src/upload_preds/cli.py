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

import shlex
import sys
import time
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from pydantic import SecretStr
from rich.console import Console

from upload_preds.errors import ExitCode, UploadPredsError, UsageError

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
    none = "none"


class OnDuplicateChoice(str, Enum):
    error = "error"
    last = "last"


class InputFormat(str, Enum):
    jsonl = "jsonl"
    json = "json"
    csv = "csv"
    tsv = "tsv"
    coco = "coco"
    yolo = "yolo"
    mot = "mot"


class MatchChoice(str, Enum):
    uuid = "uuid"
    name = "name"
    stem = "stem"
    path = "path"


Files = Annotated[
    list[str] | None,
    typer.Argument(
        help="Prediction files (JSONL, JSON, CSV, TSV, optionally .gz); '-' reads stdin.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    InputFormat | None,
    typer.Option(
        "--format",
        help="Input format; default: from the extension, else the content.",
        rich_help_panel="Input",
    ),
]
CocoGtOpt = Annotated[
    Path | None,
    typer.Option(
        "--coco-gt",
        metavar="FILE",
        help="COCO dataset file (images, categories) for a --format coco results list.",
        show_default=False,
        rich_help_panel="Input",
    ),
]
YoloNamesOpt = Annotated[
    Path | None,
    typer.Option(
        "--yolo-names",
        metavar="FILE",
        help="Class names for --format yolo: a data.yaml or a names file (one per line).",
        show_default=False,
        rich_help_panel="Input",
    ),
]
ImagesOpt = Annotated[
    Path | None,
    typer.Option(
        "--images",
        metavar="DIR",
        help="Images of --format yolo, for their pixel sizes (headers only are read).",
        show_default=False,
        rich_help_panel="Input",
    ),
]
MotCategoryOpt = Annotated[
    str | None,
    typer.Option(
        "--mot-category",
        metavar="NAME",
        help="Dataset category of --format mot boxes, for files without a class column.",
        show_default=False,
        rich_help_panel="Input",
    ),
]


class UntrackedChoice(str, Enum):
    error = "error"
    skip = "skip"
    new_track = "new-track"


UntrackedOpt = Annotated[
    UntrackedChoice,
    typer.Option(
        "--untracked",
        help="--format mot: a detection with id -1 is a line error, is skipped (counted), "
        "or gets a new track of its own.",
        rich_help_panel="Input",
    ),
]
MatchOpt = Annotated[
    MatchChoice,
    typer.Option(
        "--match",
        help="How sample names or image files are matched to samples: by uuid, exact name, "
        "file stem (extension ignored) or relative path.",
        rich_help_panel="Input",
    ),
]
CategoryMapOpt = Annotated[
    Path | None,
    typer.Option(
        "--category-map",
        metavar="FILE",
        help="Model class → dataset category (JSON object or two-column CSV; null drops).",
        show_default=False,
        rich_help_panel="Conversion",
    ),
]
SkipUnknownOpt = Annotated[
    bool,
    typer.Option(
        "--skip-unknown-categories",
        help="Drop (and count) objects whose class is not a dataset category.",
        rich_help_panel="Conversion",
    ),
]
LabelsetOpt = Annotated[
    str,
    typer.Option(
        "--labelset",
        help="Target label set; 'ground-truth' makes pre-labels. A row's 'labelset' overrides it.",
        rich_help_panel="Conversion",
    ),
]
LabelStatusOpt = Annotated[
    str,
    typer.Option(
        "--label-status",
        help="Status of the labels sent.",
        show_default=True,
        rich_help_panel="Conversion",
    ),
]
BBoxOpt = Annotated[
    BBoxFormat,
    typer.Option(
        "--bbox-format",
        help="How four-number boxes are given: corners, or size.",
        rich_help_panel="Conversion",
    ),
]
NormalizedOpt = Annotated[
    bool,
    typer.Option(
        "--normalized",
        help="2-D coordinates are fractions (0..1) of the image, scaled by each row's "
        "width and height (JSON fields or CSV columns).",
        rich_help_panel="Conversion",
    ),
]
PointLabelsKindOpt = Annotated[
    str | None,
    typer.Option(
        "--point-labels-kind",
        metavar="KIND",
        help="What the ids of point_labels_path files are: class, instance or semantickitti "
        "(default: .label files are SemanticKITTI, others class ids, or instance ids when "
        "the row lists annotations).",
        show_default=False,
        rich_help_panel="Conversion",
    ),
]
PointsOpt = Annotated[
    int | None,
    typer.Option(
        "--points",
        metavar="N",
        help="Point count of every point cloud (and frame), e.g. for offline runs: each "
        "point label file must hold exactly N ids.",
        show_default=False,
        rich_help_panel="Conversion",
    ),
]
CategoriesOpt = Annotated[
    Path | None,
    typer.Option(
        "--categories",
        help="JSON file with the dataset's task_attributes (categories), for offline runs.",
        show_default=False,
        rich_help_panel="Conversion",
    ),
]
MinScoreOpt = Annotated[
    float | None,
    typer.Option(
        "--min-score",
        help="Drop annotations scored below this (counted in the plan).",
        rich_help_panel="Conversion",
    ),
]
FramesOpt = Annotated[
    int | None,
    typer.Option(
        "--frames",
        help="Sequence datasets: how many frames a sample has when its own count is not "
        "known (offline runs). Default: the sample's attributes; offline, the highest "
        "frame index + 1.",
        show_default=False,
        rich_help_panel="Conversion",
    ),
]
ScoreFromOpt = Annotated[
    ScoreFrom,
    typer.Option(
        "--score-from",
        help="A label without a score takes the max, mean or min of its kept annotation "
        "scores; none: it gets none.",
        rich_help_panel="Conversion",
    ),
]
ObjectScoreOpt = Annotated[
    str | None,
    typer.Option(
        "--object-score-attribute",
        metavar="NAME",
        help="Keep each annotation's score in its attributes under NAME.",
        rich_help_panel="Conversion",
    ),
]
OnDuplicateOpt = Annotated[
    OnDuplicateChoice,
    typer.Option(
        "--on-duplicate",
        help="Two JSON rows for one sample and label set: fail both, or keep the last.",
        rich_help_panel="Input",
    ),
]
DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Read, validate and convert; print the plan; send nothing.",
        rich_help_panel="Upload",
    ),
]
OutputLabelsOpt = Annotated[
    Path | None,
    typer.Option(
        "--output-labels",
        metavar="PATH",
        help="Write the converted labels as JSONL instead of uploading.",
        rich_help_panel="Output",
    ),
]
ApiUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="SEGMENTS_API_URL",
        help="Segments API base URL.  \\[default: https://api.segments.ai/]",
        show_default=False,
        rich_help_panel="Target",
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="SEGMENTS_API_KEY",
        help="Segments API key (prefer the environment variable).",
        show_default=False,
        show_envvar=True,
        rich_help_panel="Target",
    ),
]
SandboxOpt = Annotated[
    bool,
    typer.Option(
        "--sandbox",
        help="Start the embedded local sandbox and upload there.",
        rich_help_panel="Target",
    ),
]
SandboxDataOpt = Annotated[
    Path | None,
    typer.Option(
        "--sandbox-data",
        metavar="FILE",
        help="Manifest the sandbox is seeded from.  \\[default: sample_data/dataset.json]",
        show_default=False,
        rich_help_panel="Target",
    ),
]
DatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        metavar="OWNER/NAME",
        help="Target dataset; default: discovered from the first sample_uuid.",
        show_default=False,
        rich_help_panel="Target",
    ),
]
CreateLabelsetOpt = Annotated[
    bool,
    typer.Option(
        "--create-labelset",
        help="Create the label set when it does not exist.",
        rich_help_panel="Target",
    ),
]
LabelsetDescriptionOpt = Annotated[
    str,
    typer.Option(
        "--labelset-description",
        metavar="TEXT",
        help="For --create-labelset.",
        rich_help_panel="Target",
    ),
]
OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace labels people worked on (any status but PRELABELED). Off by default.",
        rich_help_panel="Upload",
    ),
]
VerifyOpt = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="Read each label's status just before sending it and skip it if a person "
        "worked on it (one extra GET per label; for teams labelling during the upload).",
        rich_help_panel="Upload",
    ),
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--concurrency", "-j", help="Requests in flight at most.", rich_help_panel="Upload"
    ),
]
RetriesOpt = Annotated[
    int,
    typer.Option(
        "--retries", help="Retries per label on transient errors.", rich_help_panel="Upload"
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", help="Seconds a whole request may take.", rich_help_panel="Upload"),
]
RateOpt = Annotated[
    float | None,
    typer.Option(
        "--rate", help="Cap on requests per second.", show_default=False, rich_help_panel="Upload"
    ),
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        metavar="PATH",
        help="Journal file (what was uploaded; reruns resume).  \\[default: user state dir]",
        show_default=False,
        rich_help_panel="Upload",
    ),
]
NoResumeOpt = Annotated[
    bool,
    typer.Option(
        "--no-resume", help="Send everything, even what the journal has.", rich_help_panel="Upload"
    ),
]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="K/N",
        help="Process only the samples that hash to shard K of N (parallel jobs).",
        show_default=False,
        rich_help_panel="Upload",
    ),
]
FailuresOpt = Annotated[
    Path | None,
    typer.Option(
        "--failures",
        metavar="PATH",
        help="Where failed rows go (a directory with several inputs).  "
        "\\[default: <input>.failed.jsonl or .csv]",
        show_default=False,
        rich_help_panel="Output",
    ),
]
ReportOpt = Annotated[
    Path | None,
    typer.Option(
        "--report", metavar="PATH", help="Write the JSON report to PATH.", rich_help_panel="Output"
    ),
]
ProgressIntervalOpt = Annotated[
    float,
    typer.Option(
        "--progress-interval",
        help="Seconds between status lines when stderr is not a terminal.",
        rich_help_panel="Output",
    ),
]
InsecureOpt = Annotated[
    bool,
    typer.Option(
        "--allow-insecure-http",
        help="Allow plain http:// to a non-loopback host.",
        rich_help_panel="Target",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print a JSON report on stdout.", rich_help_panel="Output")
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Print only the summary and errors.", rich_help_panel="Output"
    ),
]
SchemaOpt = Annotated[
    bool,
    typer.Option(
        "--print-schema",
        help="Print the JSON Schema of an input row and exit.",
        rich_help_panel="Input",
    ),
]
DebugOpt = Annotated[
    bool,
    typer.Option("--debug", help="Show tracebacks of internal errors.", rich_help_panel="Output"),
]


def _print_version(value: bool) -> None:
    """``--version``: eager, so it answers before any other option is checked."""
    if value:
        from upload_preds import __version__

        typer.echo(f"upload-preds {__version__}")
        raise typer.Exit(0)


VersionOpt = Annotated[
    bool,
    typer.Option(
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
        rich_help_panel="Output",
    ),
]


def _fail(console: Console, err: UploadPredsError) -> NoReturn:
    from upload_preds.report import render_error

    render_error(console, err)
    raise typer.Exit(int(err.exit_code))


def _drop_options(argv: Sequence[str], names: Sequence[str]) -> list[str]:
    """``argv`` without the options ``names`` and their values (``--x v`` and ``--x=v``)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        elif not arg.startswith(tuple(f"{n}=" for n in names)):
            out.append(arg)
    return out


def _safe_argv(argv: Sequence[str]) -> list[str]:
    """The command line without the API key's value (it must never be printed)."""
    return _drop_options(argv, ["--api-key"])


def _drop_flags(argv: Sequence[str], names: Sequence[str]) -> list[str]:
    """``argv`` without the flags ``names`` (options that take no value)."""
    return [arg for arg in argv if arg not in names]


def _resume_command(argv: Sequence[str]) -> str:
    """The command that resumes this run: the same one, minus what defeats resuming.

    ``--no-resume`` would send everything again, which is what a user
    following "resume with:" does not expect; the API key is never printed.
    """
    return shlex.join(["upload-preds", *_drop_flags(_safe_argv(argv), ["--no-resume"])])


def _retry_command(argv: Sequence[str], inputs: Sequence[str], failures: Sequence[str]) -> str:
    """The same command with the failures files in place of the inputs."""
    rest = _safe_argv(argv)
    for path in inputs:
        if path in rest:
            rest.remove(path)
    rest = _drop_options(rest, ["--failures", "--report", "--output-labels"])
    return shlex.join(["upload-preds", *failures, *rest])


@app.command()
def upload_preds(
    ctx: typer.Context,
    files: Files = None,
    fmt: FormatOpt = None,
    coco_gt: CocoGtOpt = None,
    yolo_names: YoloNamesOpt = None,
    images: ImagesOpt = None,
    mot_category: MotCategoryOpt = None,
    untracked: UntrackedOpt = UntrackedChoice.error,
    match: MatchOpt = MatchChoice.name,
    category_map: CategoryMapOpt = None,
    skip_unknown_categories: SkipUnknownOpt = False,
    labelset: LabelsetOpt = "ground-truth",
    label_status: LabelStatusOpt = "PRELABELED",
    bbox_format: BBoxOpt = BBoxFormat.xyxy,
    normalized: NormalizedOpt = False,
    point_labels_kind: PointLabelsKindOpt = None,
    points: PointsOpt = None,
    categories: CategoriesOpt = None,
    min_score: MinScoreOpt = None,
    score_from: ScoreFromOpt = ScoreFrom.mean,
    object_score_attribute: ObjectScoreOpt = None,
    frames: FramesOpt = None,
    on_duplicate: OnDuplicateOpt = OnDuplicateChoice.error,
    dry_run: DryRunOpt = False,
    output_labels: OutputLabelsOpt = None,
    api_url: ApiUrlOpt = None,
    api_key: ApiKeyOpt = None,
    sandbox: SandboxOpt = False,
    sandbox_data: SandboxDataOpt = None,
    dataset: DatasetOpt = None,
    create_labelset: CreateLabelsetOpt = False,
    labelset_description: LabelsetDescriptionOpt = "",
    overwrite: OverwriteOpt = False,
    verify: VerifyOpt = False,
    concurrency: ConcurrencyOpt = 16,
    retries: RetriesOpt = 6,
    timeout: TimeoutOpt = 60.0,
    rate: RateOpt = None,
    state: StateOpt = None,
    no_resume: NoResumeOpt = False,
    shard: ShardOpt = None,
    failures: FailuresOpt = None,
    report: ReportOpt = None,
    json_report: JsonOpt = False,
    quiet: QuietOpt = False,
    progress_interval: ProgressIntervalOpt = 10.0,
    allow_insecure_http: InsecureOpt = False,
    print_schema: SchemaOpt = False,
    debug: DebugOpt = False,
    version: VersionOpt = False,
) -> None:
    """Upload model predictions to Segments.ai as pre-labels or into a label set.

    Reads JSONL, JSON, CSV or TSV rows (see --print-schema), converts each to a
    label of the dataset's task type, and uploads concurrently with retries,
    a guard for labels people worked on, and a journal so that a rerun resumes.
    """
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if print_schema:
        from upload_preds.rowschema import row_json_schema

        sys.stdout.write(orjson.dumps(row_json_schema(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        return
    sandbox_handle: Any = None
    try:
        from upload_preds.convert import ConvertOptions
        from upload_preds.formats import FormatOptions
        from upload_preds.runinputs import RunInputs
        from upload_preds.settings import Settings, parse_shard

        convert = ConvertOptions(
            default_labelset=labelset,
            label_status=label_status,
            bbox_format=bbox_format.value,
            min_score=min_score,
            score_from=score_from.value,
            object_score_attribute=object_score_attribute,
            normalized=normalized,
            point_labels_kind=point_labels_kind,
            points=points,
            frames=frames,
        )
        journal_host = None
        sandbox_db = None
        if sandbox:
            sandbox_handle, journal_host, sandbox_db = _start_sandbox(console, sandbox_data, quiet)
            api_url, api_key = sandbox_handle.url, sandbox_handle.api_key
        settings = Settings(
            api_url=api_url or Settings.env_api_url(),
            api_key=SecretStr(api_key) if api_key else None,
            allow_insecure_http=allow_insecure_http,
            dataset=dataset,
            labelset=labelset,
            create_labelset=create_labelset,
            labelset_description=labelset_description,
            label_status=convert.label_status,
            overwrite=overwrite,
            verify=verify,
            dry_run=dry_run,
            resume=not no_resume,
            state=state,
            shard=parse_shard(shard),
            on_duplicate=on_duplicate.value,
            concurrency=concurrency,
            retries=retries,
            timeout=timeout,
            rate=rate,
            failures=failures,
            report=report,
            progress_interval=progress_interval,
            quiet=quiet,
        )
        formats = None
        if fmt in (InputFormat.coco, InputFormat.yolo, InputFormat.mot):
            formats = FormatOptions(
                fmt.value,
                coco_gt=coco_gt,
                yolo_names=yolo_names,
                images=images,
                mot_category=mot_category,
                untracked=untracked.value,
            )
        elif mot_category is not None:
            raise UsageError("--mot-category is for --format mot", hint="add --format mot")
        elif untracked is not UntrackedChoice.error:
            raise UsageError("--untracked is for --format mot", hint="add --format mot")
        elif coco_gt is not None or yolo_names is not None or images is not None:
            raise UsageError(
                "--coco-gt, --yolo-names and --images are for --format coco or yolo",
                hint="add --format coco or --format yolo",
            )
        inputs = RunInputs(
            paths=files or [],
            convert=convert,
            fmt=fmt.value if fmt and formats is None else None,
            categories_file=categories,
            output_labels=output_labels,
            formats=formats,
            match=match.value,
            category_map=category_map,
            skip_unknown_categories=skip_unknown_categories,
            labelset_given=_given(ctx, "labelset"),
        )
        code = _run(
            console,
            settings,
            inputs,
            journal_host=journal_host,
            sandbox_db=sandbox_db,
            json_report=json_report,
        )
    except UploadPredsError as err:
        _fail(console, err)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted before anything was sent[/]")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except Exception as err:
        if debug:
            raise
        from upload_preds.report import safe

        console.print(f"[bold red]internal error:[/] {type(err).__name__}: {safe(str(err))}")
        console.print("  [dim]hint:[/] rerun with --debug for the traceback, and report it")
        raise typer.Exit(70) from None
    finally:
        if sandbox_handle is not None:
            sandbox_handle.stop()
    raise typer.Exit(int(code))


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was given (on the command line or by its env var)."""
    # typer vendors click's ParameterSource privately: compared by name.
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def _start_sandbox(console: Console, data: Path | None, quiet: bool) -> tuple[Any, str, str]:
    from upload_preds.sandbox import default_db_path, start_sandbox

    db = default_db_path()
    handle = start_sandbox(data=data, db=db)
    if not quiet:
        console.print(f"sandbox: serving at {handle.url} (database {handle.db_path})")
    # The sandbox listens on a new port each time: the journal knows it by its database.
    return handle, f"sandbox:{Path(handle.db_path).resolve()}", str(handle.db_path)


def _run(
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
        retry = _retry_command(sys.argv[1:], inputs.paths, report.failures_files)
    counts_wanted = report.mode == "upload" or (report.mode == "dry-run" and not settings.quiet)
    render_summary(console, report, retry_command=retry, counts=counts_wanted)
    if report.interrupted:
        console.print(f"  resume with: [bold]{safe(_resume_command(sys.argv[1:]))}[/]")
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


def main() -> None:
    """Console-script entry point."""
    app(prog_name="upload-preds")

"""The ``upload-preds`` command line: options → settings → run → render → exit code.

Thin on purpose: every option is declared once as an ``Annotated`` alias
(with its environment variable where it has one) in
:mod:`upload_preds.clioptions`; this module turns their values into the
settings and inputs of a run; the work is done by the library
(:mod:`upload_preds.pipeline` and friends), and :mod:`upload_preds.clirun`
runs it, renders the results and returns the exit code (the command lines it
prints back are built in :mod:`upload_preds.commandlines`). There is one error boundary,
:func:`main`: an :class:`~upload_preds.errors.UploadPredsError` becomes a
one-line message with a hint and its exit code; anything else is an internal
error whose traceback is shown only with ``--debug``. Progress, the plan and
errors go to stderr; stdout carries only what was asked for (``--json``,
``--print-schema``).
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

from upload_preds.clioptions import (
    ApiKeyOpt,
    ApiUrlOpt,
    BBoxFormat,
    BBoxOpt,
    CategoriesOpt,
    CategoryMapOpt,
    CocoGtOpt,
    ConcurrencyOpt,
    CreateLabelsetOpt,
    DatasetOpt,
    DebugOpt,
    DryRunOpt,
    FailuresOpt,
    Files,
    FormatOpt,
    FramesOpt,
    ImagesOpt,
    InputFormat,
    InsecureOpt,
    JsonOpt,
    LabelsetDescriptionOpt,
    LabelsetOpt,
    LabelStatusOpt,
    MatchChoice,
    MatchOpt,
    MinScoreOpt,
    MotCategoryOpt,
    NoResumeOpt,
    NormalizedOpt,
    ObjectScoreOpt,
    OnDuplicateChoice,
    OnDuplicateOpt,
    OutputLabelsOpt,
    OverwriteOpt,
    PointLabelsKindOpt,
    PointsOpt,
    ProgressIntervalOpt,
    QuietOpt,
    RateOpt,
    ReportOpt,
    RetriesOpt,
    SandboxDataOpt,
    SandboxOpt,
    SchemaOpt,
    ScoreFrom,
    ScoreFromOpt,
    ShardOpt,
    SkipUnknownOpt,
    StateOpt,
    TimeoutOpt,
    UntrackedChoice,
    UntrackedOpt,
    VerifyOpt,
    VersionOpt,
    YoloNamesOpt,
)
from upload_preds.errors import ExitCode, UploadPredsError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _fail(console: Console, err: UploadPredsError) -> NoReturn:
    from upload_preds.report import render_error

    render_error(console, err)
    raise typer.Exit(int(err.exit_code))


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
        import orjson

        from upload_preds.rowschema import row_json_schema

        sys.stdout.write(orjson.dumps(row_json_schema(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        return
    sandbox_handle: Any = None
    try:
        # Imported here, not at the top: `--help` and `--version` need none of them
        # (pydantic, orjson, the run and its rendering; see bench/bench_startup.py).
        from pydantic import SecretStr

        from upload_preds.clirun import run_and_render, serve_sandbox
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
            sandbox_handle, journal_host, sandbox_db = serve_sandbox(console, sandbox_data, quiet)
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
        code = run_and_render(
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


def main() -> None:
    """Console-script entry point."""
    app(prog_name="upload-preds")

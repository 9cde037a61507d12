"""The ``upload-preds`` options: each declared once, as an ``Annotated`` alias.

Every option of the command is a ``typer.Option`` (or, for the files, a
``typer.Argument``) wrapped in an ``Annotated`` alias named ``<What>Opt``,
with its help text, its help panel ("Input", "Conversion", "Target",
"Upload", "Output") and its environment variable where it has one. The
choice-valued options have their ``str`` enums here too. The command
(:func:`upload_preds.cli.upload_preds`) lists its parameters with these
aliases, in the order ``--help`` shows them; this module only declares,
it validates nothing (that is :mod:`upload_preds.settings` and friends).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


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

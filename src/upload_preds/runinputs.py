"""What a run reads and how: :class:`RunInputs`, the options checked together, shards.

:func:`check_options` refuses options that cannot work together (exit 2)
before anything is opened; :func:`reads_and_writes` names every file a run
reads and writes, as the user knows it, so that no output replaces an input
(:func:`upload_preds.outputs.refuse_clashing_outputs`). :func:`shard_of` puts a
sample in its ``--shard``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from upload_preds.convert import ConvertOptions
from upload_preds.errors import UsageError
from upload_preds.failures import FailureSink
from upload_preds.formats import FormatOptions
from upload_preds.matching import MatchMode
from upload_preds.outputs import Named
from upload_preds.readers import refuse_repeated_paths
from upload_preds.settings import Settings

__all__ = ["RunInputs", "check_options", "reads_and_writes", "shard_of"]


def shard_of(ref: str, n: int) -> int:
    """1-based shard of a sample reference: stable across runs and machines."""
    digest = hashlib.blake2b(ref.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n + 1


@dataclass
class RunInputs:
    """What to read and how to convert it."""

    paths: Sequence[str]
    convert: ConvertOptions
    fmt: str | None = None
    categories_file: Path | None = None
    output_labels: Path | None = None
    stdin: BinaryIO | None = None
    #: Detector formats (COCO, YOLO): their flags; None for the native row formats.
    formats: FormatOptions | None = None
    #: How sample names of rows (and image keys) are matched to samples.
    match: MatchMode = "name"
    category_map: Path | None = None
    skip_unknown_categories: bool = False
    #: ``--labelset`` was given (not its default). A row's own ``labelset`` still
    #: wins (an ``--output-labels`` file names the set of every label), but the
    #: rows that kept another set are counted and the report warns about them.
    labelset_given: bool = False


def check_options(s: Settings, inputs: RunInputs) -> None:
    """Options that cannot work together, refused (exit 2) before anything is opened."""
    if not inputs.paths:
        raise UsageError(
            "no input files", hint="name one or more prediction files, or '-' for stdin"
        )
    refuse_repeated_paths(inputs.paths)
    if s.api_key is None and not s.dry_run and inputs.output_labels is None:
        raise UsageError(
            "no API key: set SEGMENTS_API_KEY (or pass --api-key)",
            hint="or try it locally first with --sandbox, or check the files with --dry-run",
        )
    if inputs.formats is None and inputs.skip_unknown_categories:
        raise UsageError(
            "--skip-unknown-categories applies to --format coco, yolo or mot",
            hint="rows in the native formats name dataset categories directly",
        )
    if inputs.formats is not None and inputs.convert.normalized:
        raise UsageError(
            "--normalized is for the native row formats (JSON, JSONL, CSV, TSV)",
            hint="COCO is in pixels, and YOLO's normalized boxes are scaled already",
        )


def reads_and_writes(
    s: Settings, inputs: RunInputs, failures: FailureSink | None
) -> tuple[list[Named], list[Named]]:
    """The files a run reads and those it writes, named as the user knows them."""
    reads: list[Named] = [("input", p) for p in inputs.paths]
    for what, path in (
        ("--categories", inputs.categories_file),
        ("--category-map", inputs.category_map),
        ("--coco-gt", inputs.formats.coco_gt if inputs.formats else None),
        ("--yolo-names", inputs.formats.yolo_names if inputs.formats else None),
    ):
        if path is not None:
            reads.append((what, path))
    targets = failures.targets() if failures is not None else []
    named = s.failures is not None and len(targets) == 1
    writes: list[Named] = [
        ("--failures" if named else f"the failures file of {src}", path)
        for src, path in zip(inputs.paths, targets, strict=False)
    ]
    if inputs.output_labels is not None:
        writes.append(("--output-labels", inputs.output_labels))
    if s.report is not None:
        writes.append(("--report", s.report))
    return reads, writes

"""Readers for the files detectors and trackers emit: COCO (:mod:`.coco`), YOLO
(:mod:`.yolo`) and MOTChallenge (:mod:`.mot`, one sequence label per file).

Each reader turns its files into :class:`FormatRow` values, one per image
(one per sequence for MOT, whose annotations carry ``frame`` and ``track_id``:
:mod:`.tracks` makes each detection a part of the sequence label):
the image's key (its file name or path, matched to a sample by ``--match``),
shorthand annotations the converter already understands (``category_id``
resolved through :class:`~upload_preds.catmap.CategoryResolver`, boxes in
``xyxy`` pixels, polygons as ``points``, the detection's ``score``) and,
aligned with them, the :class:`~upload_preds.records.Location` of each
detection (``results.json:17`` is the 17th detection of a COCO list,
``labels/0001.txt:3`` the third line of a YOLO file), so that every error
points at something the user can find. Detections dropped on purpose (a class
mapped to null, an unknown class with ``--skip-unknown-categories``) are kept
in ``skipped`` to be counted; detection-level problems in ``errors`` fail the
image's label, as a bad line fails its label in CSV.

:class:`FormatSource` is what :class:`~upload_preds.pipeline.Preparer` reads:
``keys()`` for the preflight's first pass (cheap: no category look-ups) and
``rows()`` for the conversion pass.

:data:`YOLO_ERRORS_FILE` is the sidecar the failures folder of a YOLO input
holds next to its txt files (one JSON object per failed line, with its error);
it is named so that the YOLO reader never takes it for labels (nor the MOT
reader, whose failures folder has one too); :func:`txt_files` finds the txt
inputs of both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from upload_preds.catmap import CategoryResolver
from upload_preds.errors import InputFileError, UsageError
from upload_preds.records import Location, Notice, RowError

__all__ = [
    "FORMAT_NAMES",
    "YOLO_ERRORS_FILE",
    "FormatOptions",
    "FormatRow",
    "FormatSource",
    "Untracked",
    "open_format_sources",
    "txt_files",
]

FormatName = Literal["coco", "yolo", "mot"]
FORMAT_NAMES: tuple[FormatName, ...] = ("coco", "yolo", "mot")
#: ``--untracked``: what becomes of a MOT detection with id -1 (see formats/mot.py).
Untracked = Literal["error", "skip", "new-track"]
#: The errors sidecar of a YOLO failures folder. Not ``.txt``, so a folder given
#: to ``--format yolo`` never yields it as labels; the leading underscore echoes
#: the ``_error`` field of the other failures files.
YOLO_ERRORS_FILE = "_errors.jsonl"


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """The flags of the detector formats."""

    fmt: FormatName
    coco_gt: Path | None = None
    yolo_names: Path | None = None
    images: Path | None = None
    #: --format mot: the dataset category of files without a class column.
    mot_category: str | None = None
    #: --format mot: what becomes of a detection with id -1 (error, skip, new-track).
    untracked: Untracked = "error"


@dataclass(slots=True)
class FormatRow:
    """One image's (or, for a tracker's file, one sequence's) predictions, ready for the
    converter."""

    key: str
    loc: Location
    annotations: list[dict[str, Any]] = field(default_factory=list)
    ann_locs: list[Location] = field(default_factory=list)
    rows: list[tuple[Location, dict[str, Any]]] = field(default_factory=list)
    skipped: list[tuple[str, Location, dict[str, Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    #: For segmentation-bitmap datasets: per annotation, its mask source
    #: (see :mod:`upload_preds.masks`), aligned with ``annotations``.
    masks: list[Any] | None = None
    width: int | None = None
    height: int | None = None
    #: How the input names the shorthand's annotation fields (``track_id`` is MOT's
    #: ``id``), so that errors of a sequence label name the input's columns.
    columns: dict[str, str] | None = None
    #: What the input's frame numbers count from (MOTChallenge: 1), for messages.
    frame_base: int = 0


class FormatSource(Protocol):
    name: str

    def image_keys(self) -> Iterator[tuple[str, int]]:
        """Each image's key with its number of input records (detections)."""
        ...

    def rows(
        self, resolver: CategoryResolver, task_type: str | None
    ) -> Iterator[FormatRow | Notice | RowError]: ...


def txt_files(paths: list[str], what: str, skip: frozenset[str] = frozenset()) -> list[str]:
    """The ``.txt`` files of ``paths`` (YOLO and MOT inputs): a folder is searched
    recursively (its files sorted, those whose absolute path is in ``skip`` left out), a
    file is taken as named, except the errors sidecar of a failures folder. A missing
    path, or no txt file at all, is an :class:`~upload_preds.errors.InputFileError`."""
    files: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(
                os.path.join(root, f)
                for root, _dirs, fs in os.walk(p)
                for f in fs
                if f.endswith(".txt")
            )
            files.extend(f for f in found if os.path.abspath(f) not in skip)
        elif os.path.isfile(p):
            if os.path.basename(p) != YOLO_ERRORS_FILE:
                files.append(p)
        else:
            raise InputFileError(
                p, "no such file or directory", hint=f"pass {what} txt files or dirs"
            )
    if not files:
        raise InputFileError(", ".join(paths), f"holds no .txt {what} files")
    return files


def open_format_sources(paths: list[str], options: FormatOptions) -> list[FormatSource]:
    """Check the inputs and flags of a detector format; raise a usage error on a bad one."""
    if options.fmt == "mot":
        from upload_preds.formats.mot import open_mot

        return [open_mot(paths, options)]
    if options.mot_category is not None:
        raise UsageError("--mot-category is for --format mot", hint="drop it")
    if options.untracked != "error":
        raise UsageError("--untracked is for --format mot", hint="drop it")
    if options.fmt == "coco":
        from upload_preds.formats.coco import CocoSource

        if options.yolo_names is not None:
            raise UsageError("--yolo-names is for --format yolo", hint="drop it, or use --coco-gt")
        return [CocoSource(p, options.coco_gt) for p in paths]
    if options.fmt == "yolo":
        from upload_preds.formats.yolo import open_yolo

        if options.coco_gt is not None:
            raise UsageError("--coco-gt is for --format coco", hint="drop it")
        return [open_yolo(paths, options)]
    raise UsageError(f"--format {options.fmt!r} is not a detector format")

"""upload-preds: bulk-upload model predictions to Segments.ai.

The public API is what ``__all__`` names; every other module is an
implementation detail and may change between releases.

A newcomer's map: where a row goes, one module to open for each step
(``run.py`` strings them together; the README's "Layout" names every module)::

    read       readers/ (JSONL/JSON/CSV/TSV rows, stdin); formats/ (COCO, YOLO, MOT files)
    convert    convert/ (row -> LabelJob; convert/converter.py's LABEL_FAMILIES picks one)
    group      pipeline.py (Preparer: the stream of labels; scan.py, labeloutcomes.py,
               singlepass.py, formatitems.py are its parts); seqgroups.py, grouping.py
    resolve    target.py (dataset, categories, samples, in order); matching.py (--match)
    plan       outcomes.py (skip_reason: already uploaded, protected); jobstream.py
               (the jobs to send and everything else accounted); dryrun.py, plan.py
    upload     engine.py (queue and workers); retries.py (one request, retried);
               ratecontrol.py; client.py
    record     journal.py (what was uploaded); failures.py (failed rows, in their
               format); runreport.py (the JSON report); report.py (the terminal)

Where to add things: an input format is a module in ``formats/`` (plus its
failures writer in ``failures.py``); a task type is one module in ``convert/``
and one line in ``LABEL_FAMILIES`` (the ``convert`` package docstring says how).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from upload_preds.errors import (
    AbortError,
    AuthError,
    ExitCode,
    InputFileError,
    OutputError,
    ServerFailingError,
    SetupError,
    UploadPredsError,
    UsageError,
)

if TYPE_CHECKING:
    from upload_preds.api import upload
    from upload_preds.records import LabelJob, Location, Notice, Record, RowError
    from upload_preds.runreport import UploadReport

__version__ = "0.1.0"

__all__ = [
    "AbortError",
    "AuthError",
    "ExitCode",
    "InputFileError",
    "LabelJob",
    "Location",
    "Notice",
    "OutputError",
    "Record",
    "RowError",
    "ServerFailingError",
    "SetupError",
    "UploadPredsError",
    "UploadReport",
    "UsageError",
    "__version__",
    "upload",
]


_RECORDS = frozenset({"LabelJob", "Location", "Notice", "Record", "RowError"})


def __getattr__(name: str) -> Any:
    # The upload machinery (aiohttp, the engine) is imported on first use, so
    # that ``import upload_preds`` and an offline dry run stay light.
    if name == "upload":
        from upload_preds.api import upload

        return upload
    if name == "UploadReport":
        from upload_preds.runreport import UploadReport

        return UploadReport
    # The records too (their dataclasses cost ~10 ms to build): `upload-preds --help`
    # imports this package and needs none of them.
    if name in _RECORDS:
        from upload_preds import records

        return getattr(records, name)
    raise AttributeError(f"module 'upload_preds' has no attribute {name!r}")

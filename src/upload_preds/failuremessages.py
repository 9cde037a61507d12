"""What failures files and the summary say about a failed row, label or detection.

:func:`error_text` words one error (``field: message``); :func:`first_errors`
joins a label's first :data:`FAILURE_MESSAGE_ERRORS` of them. A label is
often several entries of the input (an image's detections, a sample's CSV
lines) that fail together: :func:`detection_error` and :func:`csv_line_error`
give each entry its own errors, or say it went down with its label.
:func:`write_failed` is the error of a failures file that cannot be written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from upload_preds.convert import R_LABEL_FAILED
from upload_preds.errors import OutputError
from upload_preds.records import Location, RowError

__all__ = [
    "FAILURE_MESSAGE_ERRORS",
    "csv_line_error",
    "detection_error",
    "error_text",
    "first_errors",
    "write_failed",
]

#: How many of a label's errors its failure message spells out (then "and N more").
FAILURE_MESSAGE_ERRORS = 5


def error_text(e: RowError) -> str:
    """One error as a failures file and the summary's reasons word it: ``field: message``."""
    return f"{e.field}: {e.message}" if e.field else e.message


def first_errors(texts: Sequence[str]) -> str:
    """The first :data:`FAILURE_MESSAGE_ERRORS` error texts joined, then ``and N more``."""
    shown = texts[:FAILURE_MESSAGE_ERRORS]
    joined = "; ".join(shown)
    if len(texts) > len(shown):
        joined += f"; and {len(texts) - len(shown)} more"
    return joined


def _not_own(whose: str, message: str) -> str:
    """The error of an entry that is fine but went down with the label it belongs to."""
    return f"no error of its own; not uploaded because its {whose} failed: {message}"


def detection_error(
    loc: Location, message: str, errors: Sequence[RowError], whose: str = "image's label"
) -> str:
    """The error text of one failed detection (COCO object, YOLO line) of a label.

    An image's detections make one label, so one bad detection fails them all;
    the user has to know which ones to fix. A detection with errors of its own
    gets just those; the others say they only went down with their image.
    Without located errors (unknown sample, rejected by the server) the label's
    message applies to each detection alike.
    """
    own = [e for e in errors if e.loc == loc]
    if own:
        return "; ".join(map(error_text, own))
    if errors:
        return _not_own(whose, message)
    return message


def csv_line_error(loc: Location, message: str, errors: Sequence[RowError]) -> str:
    """The ``_error`` of one failed CSV/TSV line: the line's own errors, if it has any.

    The lines of a sample make one label, so one bad line fails them all. The
    converter gives every line an error, the fine ones ``another line of the
    label failed``; here that becomes the wording of :func:`detection_error`
    (``no error of its own; ...``), followed by the errors of the lines that
    failed, each with its line in the input (as the summary names it). A label
    that failed as a whole (no located errors: unknown sample, refused by the
    server) gives each line ``message``; a duplicate label fails line by line,
    each line with the duplicate error as its own.
    """
    failing = [e for e in errors if e.reason != R_LABEL_FAILED]
    own = [e for e in failing if e.loc == loc]
    if own:
        return "; ".join(map(error_text, own))
    if not failing:
        return message

    def where(at: Location) -> str:
        # The input's line: in the failures file the lines are numbered anew.
        return f"input line {at.line}" if at.file == loc.file else str(at)

    return _not_own("label", first_errors([f"{where(e.loc)}: {error_text(e)}" for e in failing]))


def write_failed(path: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    return OutputError(
        f"cannot write the failures file {path}: {reason}",
        hint="free some space (or pass --failures PATH on another disk) and rerun the same "
        "command: what was uploaded is recorded in the journal, so the rerun resumes",
    )

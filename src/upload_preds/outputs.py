"""Output files written beside a run: atomically, and in the shapes users read back.

:class:`AtomicWriter` writes under a temporary name in the target's folder and
renames into place on success, so a run that fails or is interrupted leaves
no half-written ``--output-labels``, ``--report`` or failures file behind.
:func:`label_record` is one converted label as an ``--output-labels`` JSONL
record; :func:`category_names` maps category ids to names for reports.

Each output replaces whatever is at its path when it is put in place, so one
pointing at an input would destroy that input, even in a dry run, and two with
the same path would silently keep only the last one written.
:func:`refuse_clashing_outputs` raises a :class:`~upload_preds.errors.UsageError`
(exit 2) for both, before a row is read or anything is sent. Paths are compared
by what they are, not how they are written: two paths that exist are the same
when they name the same file (device and inode, so a symbolic or hard link to
an input counts as the input, as
:func:`upload_preds.readers.refuse_repeated_paths` compares inputs); a path
that does not exist yet is compared by its resolved absolute form.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from upload_preds.convert.categories import Categories
from upload_preds.errors import UsageError
from upload_preds.records import LabelJob

__all__ = [
    "AtomicWriter",
    "Named",
    "category_names",
    "label_record",
    "path_identity",
    "refuse_clashing_outputs",
]


def label_record(job: LabelJob) -> dict[str, Any]:
    """A converted label as one ``--output-labels`` JSONL record."""
    out: dict[str, Any] = {}
    if job.sample_uuid is not None:
        out["sample_uuid"] = job.sample_uuid
    else:
        out["sample_name"] = job.sample_name
    out["labelset"] = job.labelset
    out["label_status"] = job.label_status
    out["attributes"] = job.attributes
    out["score"] = job.score
    return out


class AtomicWriter:
    """Writes a file under a temporary name and renames it into place on success.

    A run that fails or is interrupted leaves no half-written output behind.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> None:
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        # Closing flushes, which fails again on a full disk; the file is closed anyway.
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()


def category_names(categories: Categories | None) -> dict[int, str]:
    if categories is None:
        return {}
    return categories.names_by_id()


# ---------------------------------------------------------------------------
# Outputs never replace inputs, nor each other

#: A named path: what the user calls it (``--report``, ``input``) and the path.
Named = tuple[str, str | os.PathLike[str]]


def path_identity(path: str | os.PathLike[str]) -> tuple[object, ...]:
    """What ``path`` is: its device and inode when it exists, else its resolved path."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return ("path", str(Path(path).resolve()))
    return ("file", st.st_dev, st.st_ino)


def refuse_clashing_outputs(reads: Sequence[Named], writes: Sequence[Named]) -> None:
    """Raise :class:`UsageError` when an output is a file read, or two outputs are one file.

    ``reads`` are the inputs and the other files the run reads (categories,
    maps); ``writes`` every path the run may write. ``-`` (stdin) is not a file.
    """
    read_ids = {path_identity(p): (what, p) for what, p in reads if os.fspath(p) != "-"}
    written: dict[tuple[object, ...], tuple[str, str | os.PathLike[str]]] = {}
    for what, path in writes:
        ident = path_identity(path)
        clash = read_ids.get(ident)
        if clash is not None:
            raise UsageError(
                f"{what} {os.fspath(path)!r} is {_describe(clash)}: writing it would "
                "replace what is read",
                hint="write the output somewhere else (or give the option another path)",
            )
        first = written.get(ident)
        if first is not None:
            raise UsageError(
                f"{first[0]} and {what} would both be written to {os.fspath(path)!r}: "
                "one would overwrite the other",
                hint="give each output its own path; inputs whose names differ only in "
                "their extension or folder need --failures DIR and different names, "
                "or separate runs",
            )
        written[ident] = (what, path)


def _describe(named: tuple[str, str | os.PathLike[str]]) -> str:
    what, path = named
    return f"the {what} {os.fspath(path)!r}" if what == "input" else f"the {what} file"

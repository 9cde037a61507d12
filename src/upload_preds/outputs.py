"""Output files written beside a run: atomically, and in the shapes users read back.

:class:`AtomicWriter` writes under a temporary name in the target's folder and
renames into place on success, so a run that fails or is interrupted leaves
no half-written ``--output-labels``, ``--report`` or failures file behind.
:func:`label_record` is one converted label as an ``--output-labels`` JSONL
record; :func:`category_names` maps category ids to names for reports.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from upload_preds.convert.categories import Categories
from upload_preds.records import LabelJob

__all__ = ["AtomicWriter", "category_names", "label_record"]


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
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()


def category_names(categories: Categories | None) -> dict[int, str]:
    if categories is None:
        return {}
    return categories.names_by_id()

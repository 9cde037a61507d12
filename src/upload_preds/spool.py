"""Temporary files of the input pipeline: held-back objects and spooled stdin.

:class:`Spool` pickles Python objects to an anonymous temporary file and reads
them back in order (the one-pass dry run holds failed rows and duplicate
candidates there). :func:`spool_stdin` copies a once-only source (standard
input) to a named temporary file, removed with the caller's exit stack, so
the scan pass and the convert pass can both read it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from upload_preds.readers import Source

__all__ = ["Spool", "spool_stdin"]


class Spool:
    """Python objects pickled to an anonymous temporary file, read back in order.

    The one-pass dry run holds back failed rows (and re-read duplicate
    candidates) here until it knows which rows are duplicates: bounded memory
    however many rows fail, and no cost when none do.
    """

    def __init__(self) -> None:
        self._file: Any = None
        self.count = 0

    def add(self, obj: object) -> None:
        if self._file is None:
            # Closed by close(); an anonymous file, gone even after a crash.
            self._file = tempfile.TemporaryFile(prefix="upload-preds-held-")  # noqa: SIM115
        pickle.dump(obj, self._file, pickle.HIGHEST_PROTOCOL)
        self.count += 1

    def __iter__(self) -> Iterator[Any]:
        f = self._file
        if f is None:
            return
        f.flush()
        f.seek(0)
        for _ in range(self.count):
            yield pickle.load(f)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spool_stdin(source: Source, stack: contextlib.ExitStack) -> Source:
    """Copy a once-only source (stdin) to a temporary file so it can be read twice."""
    fd, name = tempfile.mkstemp(prefix="upload-preds-stdin-")
    stack.callback(os.unlink, name)
    with os.fdopen(fd, "wb") as out, source.open() as stream:
        shutil.copyfileobj(stream, out, 1 << 20)
    return Source(name=source.name, path=name, fmt=source.fmt, gzip=False)

"""Exceptions and exit codes of upload-preds.

Row-level problems (a bad value on line 17) are *not* exceptions: they are
:class:`~upload_preds.records.RowError` values that travel with the data and
end in the summary and the failures file, so that good rows still upload.
Exceptions are for what stops a whole run, or a whole file::

    UploadPredsError                 base; .exit_code, .hint
    ├── UsageError                   bad flags or settings            exit 2
    │   └── InputFileError           a file cannot be opened or read  exit 2
    ├── SetupError                   preflight failed before writing  exit 2
    └── AbortError                   the run had to stop              exit 3
        ├── AuthError                key rejected (401/403)           exit 3
        ├── ServerFailingError       persistent server failure        exit 3
        └── OutputError              an output file cannot be written exit 3

Every message is written for the person at the terminal: what happened, where
(file and line when there is one) and what to try next (``hint``).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """The exit codes users and scripts rely on (see the README)."""

    OK = 0
    ROWS_FAILED = 1
    USAGE = 2
    ABORTED = 3
    INTERRUPTED = 130


class UploadPredsError(Exception):
    """Base class of every error upload-preds raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(UploadPredsError):
    """Flags or settings that cannot work together; nothing was sent."""

    exit_code = ExitCode.USAGE


class InputFileError(UsageError):
    """A whole input file cannot be used (missing, unreadable, unknown format)."""

    def __init__(
        self, file: str, message: str, *, line: int | None = None, hint: str | None = None
    ) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}", hint=hint)
        self.file = file
        self.line = line


class SetupError(UploadPredsError):
    """The preflight found a problem before the first write (dataset, label set, ...)."""

    exit_code = ExitCode.USAGE


class AbortError(UploadPredsError):
    """The run stopped part-way; what was done is recorded in the journal."""

    exit_code = ExitCode.ABORTED


class AuthError(AbortError):
    """The API key was rejected (401 or 403)."""


class ServerFailingError(AbortError):
    """The server kept failing after every retry, row after row."""


class OutputError(AbortError):
    """A failures file, report or labels file cannot be written (a full disk).

    The run stops; what was uploaded is recorded in the journal, and no
    half-written file is left behind.
    """

"""upload-preds: bulk-upload model predictions to Segments.ai.

The public API is what ``__all__`` names; every other module is an
implementation detail and may change between releases.
"""

from __future__ import annotations

from upload_preds.api import upload
from upload_preds.errors import (
    AbortError,
    AuthError,
    ExitCode,
    InputFileError,
    ServerFailingError,
    SetupError,
    UploadPredsError,
    UsageError,
)
from upload_preds.records import LabelJob, Location, Notice, Record, RowError
from upload_preds.uploader import UploadReport

__version__ = "0.1.0"

__all__ = [
    "AbortError",
    "AuthError",
    "ExitCode",
    "InputFileError",
    "LabelJob",
    "Location",
    "Notice",
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

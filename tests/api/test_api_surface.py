"""The public API: one curated ``__all__``, every name importable, the heavy parts lazy."""

from __future__ import annotations

import subprocess
import sys

import upload_preds


def test_every_public_name_resolves() -> None:
    for name in upload_preds.__all__:
        assert getattr(upload_preds, name) is not None, name


def test_the_error_tree_is_public() -> None:
    errors = {
        name
        for name in upload_preds.__all__
        if isinstance(getattr(upload_preds, name), type)
        and issubclass(getattr(upload_preds, name), upload_preds.UploadPredsError)
    }
    assert errors == {
        "AbortError",
        "AuthError",
        "InputFileError",
        "OutputError",
        "ServerFailingError",
        "SetupError",
        "UploadPredsError",
        "UsageError",
    }
    assert issubclass(upload_preds.OutputError, upload_preds.AbortError)


def test_importing_the_package_does_not_import_the_network_side() -> None:
    code = (
        "import sys, upload_preds; "
        "print(sorted(m for m in ('aiohttp', 'upload_preds.run', 'upload_preds.engine') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True)
    assert out.stdout.strip() == "[]"

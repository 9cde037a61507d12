"""Start-up of the ``upload-preds`` command: what ``--help`` and ``--version`` import.

The real entry point (``python -m upload_preds``) runs in a subprocess with
``-X importtime``, which lists on stderr every module the process imported;
the help itself goes to stdout. ``--help`` needs typer and rich (the help is
rendered with them) and the option declarations, nothing of the run: not the
HTTP client (aiohttp), not pydantic or orjson, not the converters (numpy, PIL),
not the package's row records (their dataclasses cost ~10 ms to build).
Modules, not milliseconds, are asserted: timings are noise on a shared
machine; ``bench/bench_startup.py`` measures the CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clikit import clean_env

#: Imported by a run; never by --help or --version.
NOT_FOR_HELP = (
    "aiohttp",
    "pydantic",
    "orjson",
    "numpy",
    "PIL",
    "upload_preds.records",
    "upload_preds.clirun",
    "upload_preds.client",
    "upload_preds.settings",
    "upload_preds.convert",
    "upload_preds.sandbox",
)


def imported_by(tmp_path: Path, *args: str) -> tuple[str, set[str]]:
    """stdout of ``python -X importtime -m upload_preds ARGS`` and the modules it imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "upload_preds", *args],
        capture_output=True,
        cwd=tmp_path,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    modules = {
        line.split("|")[2].strip()
        for line in proc.stderr.decode().splitlines()
        if line.startswith("import time:") and "imported package" not in line
    }
    return proc.stdout.decode(), modules


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_nothing_of_the_run(tmp_path: Path, flag: str) -> None:
    out, modules = imported_by(tmp_path, flag)
    assert "upload-preds" in out
    assert "upload_preds.cli" in modules  # the listing is real: the command itself is there
    assert "upload_preds.clioptions" in modules
    assert "typer" in modules
    loaded = sorted(m for m in NOT_FOR_HELP if m in modules)
    assert loaded == [], f"{flag} imported {loaded}"


def test_a_dry_run_still_has_what_it_needs(tmp_path: Path) -> None:
    # The imports moved into the command are still made when it runs.
    rows = tmp_path / "p.jsonl"
    rows.write_text(
        '{"sample_uuid": "00000000-0000-4000-8000-000000000001", '
        '"annotations": [{"category": "car", "bbox": [1, 2, 30, 40], "score": 0.9}]}\n'
    )
    categories = Path(__file__).resolve().parents[2] / "sample_data" / "categories.json"
    out, modules = imported_by(
        tmp_path, str(rows), "--dry-run", "--json", "--categories", str(categories)
    )
    assert json.loads(out)["labels"]["converted"] == 1
    assert {"pydantic", "orjson", "upload_preds.clirun", "upload_preds.records"} <= modules
    assert "aiohttp" not in modules  # offline: the HTTP client is never imported
    # Point labels (numpy) are read only for rows that have a point-labels file.
    assert "numpy" not in modules
    assert "upload_preds.convert.pointlabels" not in modules


def test_the_records_behind_the_package_getattr_are_the_records() -> None:
    # Every public name resolves: tests/api/test_api_surface.py; here, to the same class.
    from upload_preds import LabelJob, RowError
    from upload_preds.records import LabelJob as Same

    assert LabelJob is Same
    assert RowError.__module__ == "upload_preds.records"

"""Fixtures for CLI tests: run the real ``upload-preds`` entry point in a subprocess
(``tests/clikit.py``'s runner, with no server: no key, no URL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from clikit import Result, clean_env, run_cli

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"


Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Run ``python -m upload_preds ARGS`` with a clean environment; never a terminal."""

    def _run(
        *args: str | Path, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return run_cli(
            [*map(str, args)], env=clean_env(**(env or {})), cwd=tmp_path, timeout=120, stdin=stdin
        )

    return _run

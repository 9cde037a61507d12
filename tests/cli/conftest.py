"""Fixtures for CLI tests: run the real ``upload-preds`` entry point in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Run ``python -m upload_preds ARGS`` with a clean environment; never a terminal."""

    def _run(
        *args: str | Path, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> Result:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
        full_env.update({"NO_COLOR": "1", "COLUMNS": "200"})
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-m", "upload_preds", *map(str, args)],
            input=stdin,
            capture_output=True,
            cwd=tmp_path,
            env=full_env,
            timeout=120,
            check=False,
        )
        out = Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
        assert "Traceback" not in out.stderr, out.stderr
        return out

    return _run

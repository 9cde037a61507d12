"""Running the ``upload-preds`` CLI as a user would: a subprocess with its own environment.

One runner, and one writer of its JSONL inputs, for the end-to-end tests of
every folder (``tests/conftest.py`` puts this directory on ``sys.path``;
pytest runs with ``--import-mode=importlib``).
The environment is the test process's own, less any ``SEGMENTS_*`` variable of
the machine, plus the key and URL of the server under test; colour is off and
the terminal wide, so that assertions on stderr see whole lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def cli_env(url: str, key: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
    env.update(SEGMENTS_API_KEY=key, SEGMENTS_API_URL=url, NO_COLOR="1", COLUMNS="200")
    env.update(extra)
    return env


def run_cli(
    args: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 180,
    no_traceback: bool = True,
) -> Result:
    """``python -m upload_preds ARGS``; a traceback on stderr fails the test when asked."""
    proc = subprocess.run(
        [sys.executable, "-m", "upload_preds", *args],
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
    res = Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    if no_traceback:
        assert "Traceback" not in res.stderr, res.stderr
    return res

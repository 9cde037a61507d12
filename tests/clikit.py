"""Running the ``upload-preds`` CLI as a user would: a subprocess with its own environment.

One runner (:func:`run_cli`, or :class:`Cli` bound to a server and a journal),
and one writer of its JSONL inputs, for the end-to-end tests of every folder (``tests/conftest.py`` puts this directory on ``sys.path``;
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


def clean_env(**extra: str) -> dict[str, str]:
    """This environment less any ``SEGMENTS_*`` variable, colour off, a wide terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
    env.update(NO_COLOR="1", COLUMNS="200")
    env.update(extra)
    return env


def cli_env(url: str, key: str, **extra: str) -> dict[str, str]:
    """:func:`clean_env` with the key and URL of the server under test (``extra`` wins)."""
    return clean_env(**{"SEGMENTS_API_KEY": key, "SEGMENTS_API_URL": url, **extra})


def run_cli(
    args: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 180,
    no_traceback: bool = True,
    stdin: bytes | None = None,
) -> Result:
    """``python -m upload_preds ARGS``; a traceback on stderr fails the test when asked."""
    proc = subprocess.run(
        [sys.executable, "-m", "upload_preds", *args],
        input=stdin,
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


@dataclass
class Cli:
    """Runs the CLI against ``url`` with ``key`` and the journal ``state``, in ``cwd``."""

    url: str
    key: str
    state: Path
    cwd: Path
    no_traceback: bool = True

    def run(self, *args: str | Path, timeout: float = 180, **env: str) -> Result:
        return run_cli(
            [*map(str, args), "--state", str(self.state)],
            env=cli_env(self.url, self.key, **env),
            cwd=self.cwd,
            timeout=timeout,
            no_traceback=self.no_traceback,
        )

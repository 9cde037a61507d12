"""Fixtures for end-to-end CLI tests: a real sandbox, the real CLI, real sockets.

The sandbox runs in this pytest process (a background thread with its own
event loop); the uploader runs as a subprocess through ``python -m
upload_preds``, so signals, exit codes, stdout and stderr are the real ones.
Every test gets its own journal file and sandbox database.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clikit import Cli, Result, cli_env
from manifestkit import dataset_manifest, seeded_samples
from upload_preds.sandbox import SandboxHandle, start_sandbox

ROOT = Path(__file__).resolve().parents[2]
DEMO = json.loads((ROOT / "sample_data" / "dataset.json").read_text())["datasets"][0]
LABEL_ROUTE = "/labels/{sample_uuid}/{labelset}/"
NAMES = ["car", "truck", "pedestrian", "cyclist", "traffic_sign"]


def sample_uuid(i: int) -> str:
    return str(uuid.UUID(int=0xA000_0000_0000_0000_0000_0000_0000_0000 + i, version=4))


def make_manifest(n: int, human: dict[int, str] | None = None) -> dict[str, Any]:
    """A vector dataset ``test/big`` of ``n`` samples; ``human`` seeds labels people made."""
    box = {"id": 1, "category_id": 1, "type": "bbox", "points": [[1, 1], [9, 9]]}
    samples = seeded_samples(n, sample_uuid, lambda i: f"frame_{i:05d}.jpg", human, [box])
    return dataset_manifest(
        "test/big",
        "vector",
        samples,
        task_attributes=DEMO["task_attributes"],
        labelsets=("ground-truth", "predictions"),
    )


def prediction_row(i: int, *, by_name: bool = False, shift: float = 0.0) -> dict[str, Any]:
    anns = []
    for k in range(1 + i % 3):
        x = 10.0 * k + (i % 50) + shift
        anns.append(
            {
                "category": NAMES[(i + k) % len(NAMES)],
                "bbox": [x, 20.0, x + 40.0, 80.0],
                "score": round(0.5 + (i % 7) / 20, 3),
            }
        )
    row: dict[str, Any] = {"annotations": anns, "score": 0.9}
    if by_name:
        row["sample_name"] = f"frame_{i:05d}.jpg"
    else:
        row["sample_uuid"] = sample_uuid(i)
    return row


@dataclass
class Env:
    """How to reach one sandbox: key, URL, journal, and a runner for the CLI."""

    sandbox: SandboxHandle
    key: str
    journal: Path
    tmp: Path

    def env(self, **extra: str) -> dict[str, str]:
        return cli_env(self.sandbox.url, self.key, **extra)

    def args(self, *args: str | Path) -> list[str]:
        return [sys.executable, "-m", "upload_preds", *map(str, args), "--state", str(self.journal)]

    def run(self, *args: str | Path, timeout: float = 180, **env: str) -> Result:
        cli = Cli(self.sandbox.url, self.key, self.journal, self.tmp)
        return cli.run(*args, timeout=timeout, **env)

    def popen(self, *args: str | Path, **env: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.args(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.tmp,
            env=self.env(**env),
        )

    def label_puts(self) -> int:
        stats = self.sandbox.stats()
        return sum(stats["requests"].get("PUT", {}).get(LABEL_ROUTE, {}).values())


MakeEnv = Callable[..., Env]


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[MakeEnv]:
    handles: list[SandboxHandle] = []

    def _make(n: int = 50, human: dict[int, str] | None = None, **kwargs: Any) -> Env:
        key = "sk-test-" + secrets.token_hex(12)
        handle = start_sandbox(
            data=make_manifest(n, human),
            db=tmp_path / f"sandbox{len(handles)}.db",
            api_key=key,
            **kwargs,
        )
        handles.append(handle)
        return Env(handle, key, tmp_path / f"journal{len(handles)}.sqlite3", tmp_path)

    yield _make
    for h in handles:
        h.stop()

"""Fixtures of the detector-format tests: a sandbox with a small vector dataset, the real CLI.

The sandbox runs in this process; the uploader runs as ``python -m upload_preds``
in a subprocess, so exit codes and output are the real ones.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from upload_preds.sandbox import SandboxHandle, start_sandbox

CATEGORIES = [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}, {"id": 3, "name": "person"}]
SAMPLE_NAMES = ["img_0001.jpg", "img_0002.jpg", "img_0003.jpg", "val/img_0004.png", "other.jpg"]


def sample_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "formats/" + name))


def manifest() -> dict[str, Any]:
    return {
        "datasets": [
            {
                "owner": "test",
                "name": "det",
                "task_type": "vector",
                "task_attributes": {"format_version": "0.1", "categories": CATEGORIES},
                "labelsets": [{"name": "ground-truth", "description": ""}],
                "samples": [
                    {
                        "uuid": sample_uuid(n),
                        "name": n,
                        "attributes": {"image": {"url": f"https://example.invalid/{n}"}},
                        "metadata": {},
                        "labels": {},
                    }
                    for n in SAMPLE_NAMES
                ],
            }
        ]
    }


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data


@dataclass
class FormatsEnv:
    sandbox: SandboxHandle
    key: str
    tmp: Path

    def run(self, *args: str | Path) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
        env.update(SEGMENTS_API_KEY=self.key, SEGMENTS_API_URL=self.sandbox.url, NO_COLOR="1")
        cmd = [sys.executable, "-m", "upload_preds", *map(str, args)]
        cmd += ["--dataset", "test/det", "--state", str(self.tmp / "journal.sqlite3"), "--json"]
        proc = subprocess.run(cmd, capture_output=True, cwd=self.tmp, env=env, timeout=120)
        res = Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
        assert "Traceback" not in res.stderr, res.stderr
        return res

    def label(self, name: str) -> dict[str, Any] | None:
        url = f"{self.sandbox.url}labels/{sample_uuid(name)}/ground-truth/"
        r = httpx.get(url, headers={"Authorization": f"APIKey {self.key}"})
        if r.status_code == 404:
            return None
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data


@pytest.fixture
def fenv(tmp_path: Path) -> Iterator[FormatsEnv]:
    key = "sk-test-" + secrets.token_hex(8)
    handle = start_sandbox(data=manifest(), db=tmp_path / "sandbox.db", api_key=key)
    try:
        yield FormatsEnv(handle, key, tmp_path)
    finally:
        handle.stop()


CUBOID_SAMPLES = ["scan_000.pcd", "scan_001.pcd"]


def cuboid_manifest() -> dict[str, Any]:
    return {
        "datasets": [
            {
                "owner": "test",
                "name": "lidar",
                "task_type": "pointcloud-cuboid",
                "task_attributes": {"format_version": "0.2", "categories": CATEGORIES},
                "labelsets": [{"name": "ground-truth", "description": ""}],
                "samples": [
                    {
                        "uuid": sample_uuid(n),
                        "name": n,
                        "attributes": {"pcd": {"url": f"https://example.invalid/{n}"}},
                        "metadata": {},
                        "labels": {},
                    }
                    for n in CUBOID_SAMPLES
                ],
            }
        ]
    }


@dataclass
class CuboidEnv(FormatsEnv):
    def run(self, *args: str | Path) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
        env.update(SEGMENTS_API_KEY=self.key, SEGMENTS_API_URL=self.sandbox.url, NO_COLOR="1")
        cmd = [sys.executable, "-m", "upload_preds", *map(str, args)]
        cmd += ["--dataset", "test/lidar", "--state", str(self.tmp / "journal.sqlite3"), "--json"]
        proc = subprocess.run(cmd, capture_output=True, cwd=self.tmp, env=env, timeout=120)
        res = Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
        assert "Traceback" not in res.stderr, res.stderr
        return res


@pytest.fixture
def cenv(tmp_path: Path) -> Iterator[CuboidEnv]:
    key = "sk-test-" + secrets.token_hex(8)
    handle = start_sandbox(data=cuboid_manifest(), db=tmp_path / "sandbox.db", api_key=key)
    try:
        yield CuboidEnv(handle, key, tmp_path)
    finally:
        handle.stop()

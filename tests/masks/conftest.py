"""Fixtures of the mask tests: a sandbox with a segmentation-bitmap dataset, the real CLI.

The sandbox runs in this process; the uploader runs as ``python -m upload_preds``
in a subprocess, so exit codes, output and the journal are the real ones. The
uploaded bitmaps are read back the way a user would: the label's
``segmentation_bitmap.url`` is downloaded and decoded with Pillow.
"""

from __future__ import annotations

import io
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
import numpy as np
import pytest
from PIL import Image

from upload_preds.sandbox import SandboxHandle, start_sandbox

CATEGORIES = [{"id": 1, "name": "road"}, {"id": 2, "name": "car"}, {"id": 7, "name": "person"}]
SAMPLE_NAMES = ["a.png", "b.png", "c.png"]


def sample_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "masks/" + name))


def manifest() -> dict[str, Any]:
    return {
        "datasets": [
            {
                "owner": "test",
                "name": "seg",
                "task_type": "segmentation-bitmap",
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


def ids_of_bitmap(png: bytes) -> np.ndarray[Any, Any]:
    """The platform's RGBA bitmap → an array of ids (R + 256 G + 65536 B); alpha must be 255."""
    img = Image.open(io.BytesIO(png))
    assert img.mode == "RGBA", img.mode
    a = np.asarray(img).astype(np.int64)
    assert (a[..., 3] == 255).all()
    ids: np.ndarray[Any, Any] = a[..., 0] + 256 * a[..., 1] + 65536 * a[..., 2]
    return ids


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data


@dataclass
class MasksEnv:
    sandbox: SandboxHandle
    key: str
    tmp: Path

    def run(self, *args: str | Path) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
        env.update(SEGMENTS_API_KEY=self.key, SEGMENTS_API_URL=self.sandbox.url, NO_COLOR="1")
        cmd = [sys.executable, "-m", "upload_preds", *map(str, args)]
        cmd += ["--dataset", "test/seg", "--state", str(self.tmp / "journal.sqlite3"), "--json"]
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

    def bitmap(self, name: str) -> tuple[dict[str, Any], np.ndarray[Any, Any]]:
        """The label's attributes and its bitmap's ids, downloaded from the asset url (no key)."""
        label = self.label(name)
        assert label is not None, f"no label for {name}"
        attrs: dict[str, Any] = label["attributes"]
        r = httpx.get(attrs["segmentation_bitmap"]["url"])
        r.raise_for_status()
        return attrs, ids_of_bitmap(r.content)

    def write_rows(self, rows: list[dict[str, Any]], name: str = "rows.jsonl") -> Path:
        path = self.tmp / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path


@pytest.fixture
def menv(tmp_path: Path) -> Iterator[MasksEnv]:
    key = "sk-test-" + secrets.token_hex(8)
    handle = start_sandbox(data=manifest(), db=tmp_path / "sandbox.db", api_key=key)
    try:
        yield MasksEnv(handle, key, tmp_path)
    finally:
        handle.stop()

"""Fixtures of the mask tests: a sandbox with a segmentation-bitmap dataset, the real CLI.

The sandbox runs in this process; the uploader runs as ``python -m upload_preds``
in a subprocess, so exit codes, output and the journal are the real ones. The
uploaded bitmaps are read back the way a user would: the label's
``segmentation_bitmap.url`` is downloaded and decoded with Pillow.

The environment is the one the detector-format tests use, from
``tests/formats/formatskit.py`` (that directory is put on ``sys.path`` for it);
this conftest adds the dataset and what only masks need.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

if str(Path(__file__).parent.parent / "formats") not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent.parent / "formats"))

from formatskit import SandboxEnv, dataset_manifest, running_env

CATEGORIES = [{"id": 1, "name": "road"}, {"id": 2, "name": "car"}, {"id": 7, "name": "person"}]
SAMPLE_NAMES = ["a.png", "b.png", "c.png"]


def manifest(samples: list[str] = SAMPLE_NAMES) -> dict[str, Any]:
    return dataset_manifest(
        name="seg",
        task_type="segmentation-bitmap",
        format_version="0.1",
        categories=CATEGORIES,
        samples=samples,
        namespace="masks",
    )


def ids_of_bitmap(png: bytes) -> np.ndarray[Any, Any]:
    """The platform's RGBA bitmap → an array of ids (R + 256 G + 65536 B); alpha must be 255."""
    img = Image.open(io.BytesIO(png))
    assert img.mode == "RGBA", img.mode
    a = np.asarray(img).astype(np.int64)
    assert (a[..., 3] == 255).all()
    ids: np.ndarray[Any, Any] = a[..., 0] + 256 * a[..., 1] + 65536 * a[..., 2]
    return ids


class MasksEnv(SandboxEnv):
    DATASET = "test/seg"
    NAMESPACE = "masks"

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
    with running_env(MasksEnv, manifest(), tmp_path) as env:
        yield env

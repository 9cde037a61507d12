"""Fixtures of the detector-format tests: a sandbox with a small vector dataset, the real CLI.

The sandbox runs in this process; the uploader runs as ``python -m upload_preds``
in a subprocess, so exit codes and output are the real ones. The environment
itself is ``formatskit.py``'s (shared with the mask tests): this conftest puts
its own directory on ``sys.path`` for it and names the datasets.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from formatskit import SandboxEnv, dataset_manifest, running_env

CATEGORIES = [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}, {"id": 3, "name": "person"}]
SAMPLE_NAMES = ["img_0001.jpg", "img_0002.jpg", "img_0003.jpg", "val/img_0004.png", "other.jpg"]
CUBOID_SAMPLES = ["scan_000.pcd", "scan_001.pcd"]
NAMESPACE = "formats"

#: A COCO dataset file for results lists (its ids deliberately differ from the dataset's).
COCO_GT_TWO_IMAGES = {
    "images": [
        {"id": 1, "file_name": "img_0001.jpg", "width": 640, "height": 480},
        {"id": 2, "file_name": "img_0002.jpg", "width": 640, "height": 480},
    ],
    "categories": [{"id": 5, "name": "car"}, {"id": 6, "name": "truck"}],
    "annotations": [],
}


def manifest() -> dict[str, Any]:
    return dataset_manifest(
        name="det",
        task_type="vector",
        format_version="0.1",
        categories=CATEGORIES,
        samples=SAMPLE_NAMES,
        namespace=NAMESPACE,
    )


def cuboid_manifest() -> dict[str, Any]:
    return dataset_manifest(
        name="lidar",
        task_type="pointcloud-cuboid",
        format_version="0.2",
        categories=CATEGORIES,
        samples=CUBOID_SAMPLES,
        namespace=NAMESPACE,
        asset="pcd",
    )


class FormatsEnv(SandboxEnv):
    DATASET = "test/det"
    NAMESPACE = NAMESPACE


class CuboidEnv(SandboxEnv):
    DATASET = "test/lidar"
    NAMESPACE = NAMESPACE


@pytest.fixture
def fenv(tmp_path: Path) -> Iterator[FormatsEnv]:
    with running_env(FormatsEnv, manifest(), tmp_path) as env:
        yield env


@pytest.fixture
def cenv(tmp_path: Path) -> Iterator[CuboidEnv]:
    with running_env(CuboidEnv, cuboid_manifest(), tmp_path) as env:
        yield env

"""`make demo` uploads the multi-sensor rig: the Makefile's own command, run for real.

The rig (``sample_data/rigdata.py``) has a segmenting LiDAR and a segmenting
camera; its rows (``rig_predictions.jsonl``) become one ``multisensor-sequence``
label, read back from the demo's sandbox database with the official SDK, whose
models parse each sensor in its own task type's format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from segments import SegmentsClient
from segments.typing import (
    ImageSequenceSegmentationLabelAttributes,
    MultiSensorLabelAttributes,
    PointcloudSequenceSegmentationLabelAttributes,
)

from upload_preds.sandbox import start_sandbox

sys.path.insert(0, str(Path(__file__).parent))
from test_demo_sequences import DATASETS, ROOT, SAMPLE, demo_commands

RIG_FILES = [SAMPLE / "rig_predictions.jsonl", *sorted((SAMPLE / "rig").rglob("*.png"))]


def rig_command() -> list[str]:
    (cmd,) = [c for c in demo_commands() if "demo/rig" in c]
    return cmd


def test_the_rig_stays_small_and_its_files_exist() -> None:
    assert "sample_data/rig_predictions.jsonl" in rig_command()
    assert sum(p.stat().st_size for p in RIG_FILES) < 300_000
    for line in RIG_FILES[0].read_text().splitlines():
        row = json.loads(line)
        path = row.get("point_labels_path") or row.get("mask_path")
        assert (SAMPLE / path).is_file(), path


@pytest.mark.slow
def test_the_demo_uploads_the_rig(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # a fresh sandbox db and journal
    env["NO_COLOR"] = "1"
    args = [sys.executable, "-m", "upload_preds", *rig_command()[1:], "--json"]
    args += ["--failures", str(tmp_path / "failed.jsonl")]
    proc = subprocess.run(args, capture_output=True, cwd=ROOT, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr.decode()
    report = json.loads(proc.stdout)
    assert report["counts"] == {"rows": 4, "uploaded": 4, "skipped": 0, "failed": 0}
    assert report["labels"]["uploaded"] == 1

    (sample,) = DATASETS["rig"]["samples"]
    points = sample["metadata"]["point_count"]["lidar"]
    db = next((tmp_path / "state").rglob("sandbox*.sqlite3"))
    handle = start_sandbox(data=SAMPLE / "dataset.json", db=db, api_key="sk-demo-check")
    try:
        with SegmentsClient("sk-demo-check", api_url=handle.url) as client:
            attrs = client.get_label(sample["uuid"], "ground-truth").attributes
    finally:
        handle.stop()
    assert isinstance(attrs, MultiSensorLabelAttributes)
    lidar, camera = attrs.sensors
    assert isinstance(lidar.attributes, PointcloudSequenceSegmentationLabelAttributes)
    assert [len(f.point_annotations) for f in lidar.attributes.frames] == points
    assert all(f.annotations for f in lidar.attributes.frames)
    assert isinstance(camera.attributes, ImageSequenceSegmentationLabelAttributes)
    for frame in camera.attributes.frames:
        assert frame.segmentation_bitmap.url.startswith("http")
        assert {a.track_id for a in frame.annotations} >= {1, 2, 3, 11, 12}

"""`make demo` uploads the sample sequence data: the Makefile's own commands, run for real.

The commands are read from the Makefile's ``demo`` target (so the test and
the demo cannot drift apart) and run as ``python -m upload_preds`` with a
fresh state folder, so each starts the embedded sandbox from
``sample_data/dataset.json``, as ``make demo`` does. Every label that lands is
read back with the official SDK, which parses it into its models.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from segments import SegmentsClient
from segments.typing import (
    ImageSequenceVectorLabelAttributes,
    PointcloudSequenceCuboidLabelAttributes,
)

from upload_preds.sandbox import start_sandbox

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
MANIFEST = json.loads((SAMPLE / "dataset.json").read_text())
DATASETS = {d["name"]: d for d in MANIFEST["datasets"]}


def demo_commands() -> list[list[str]]:
    """The ``upload-preds`` command lines of the Makefile's demo target, continuations joined."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = lines.index("demo: $(STAMP)") + 1
    recipe: list[str] = []
    for line in lines[start:]:
        if not line.startswith("\t"):
            break
        if recipe and recipe[-1].endswith("\\"):
            recipe[-1] = recipe[-1][:-1] + " " + line.strip()
        else:
            recipe.append(line.strip())
    return [shlex.split(cmd) for cmd in recipe if cmd.startswith("$(BIN)/upload-preds ")]


def sequence_commands() -> list[list[str]]:
    return [c for c in demo_commands() if "demo/street-video" in c or "demo/lidar-sweeps" in c]


def test_the_demo_target_uploads_every_sequence_file() -> None:
    used = {arg for cmd in sequence_commands() for arg in cmd}
    assert {
        "sample_data/video_predictions.jsonl",
        "sample_data/mot",
        "sample_data/lidar_predictions.jsonl",
    } <= used


@pytest.mark.slow
def test_the_demo_uploads_the_sample_sequences(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # a fresh sandbox db and journal
    env["NO_COLOR"] = "1"
    reports: dict[str, dict[str, Any]] = {}
    for i, cmd in enumerate(sequence_commands()):
        args = [sys.executable, "-m", "upload_preds", *cmd[1:], "--json"]
        # Failures (there should be none) go to the test's folder, never the repository's.
        failures = tmp_path / f"failures-{i}"
        failures.mkdir()
        target = failures if "--format" in cmd else failures / "failed.jsonl"
        args += ["--failures", str(target)]
        proc = subprocess.run(args, capture_output=True, cwd=ROOT, env=env, timeout=180)
        assert proc.returncode == 0, proc.stderr.decode()
        assert "Traceback" not in proc.stderr.decode()
        reports[cmd[1]] = json.loads(proc.stdout)
    video = reports["sample_data/video_predictions.jsonl"]
    assert video["counts"] == {"rows": 72, "uploaded": 72, "skipped": 0, "failed": 0}
    assert video["labels"]["uploaded"] == 3
    mot = reports["sample_data/mot"]
    assert mot["labels"]["uploaded"] == 3
    assert mot["annotations"]["filtered_by_min_score"] > 0  # the tracker's ghosts
    lidar = reports["sample_data/lidar_predictions.jsonl"]
    assert lidar["counts"]["uploaded"] == 40
    assert lidar["labels"]["uploaded"] == 2

    # The labels, read back from the demo's sandbox database by the official SDK.
    db = next((tmp_path / "state").rglob("sandbox*.sqlite3"))
    handle = start_sandbox(data=SAMPLE / "dataset.json", db=db, api_key="sk-demo-check")
    try:
        with SegmentsClient("sk-demo-check", api_url=handle.url) as client:
            for sample in DATASETS["street-video"]["samples"]:
                for labelset in ("ground-truth", "predictions"):
                    label = client.get_label(sample["uuid"], labelset)
                    attrs = label.attributes
                    assert isinstance(attrs, ImageSequenceVectorLabelAttributes)
                    assert len(attrs.frames) == len(sample["attributes"]["frames"])
                    assert all(a.track_id for f in attrs.frames for a in f.annotations)
            for sample in DATASETS["lidar-sweeps"]["samples"]:
                label = client.get_label(sample["uuid"], "ground-truth")
                attrs = label.attributes
                assert isinstance(attrs, PointcloudSequenceCuboidLabelAttributes)
                assert len(attrs.frames) == len(sample["attributes"]["frames"])
                assert {a.track_id for f in attrs.frames for a in f.annotations} >= {1, 2, 3}
    finally:
        handle.stop()

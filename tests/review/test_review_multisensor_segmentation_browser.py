"""A rig's segmentation sensors on the review page, in a real headless Chromium.

A multi-sensor sample with a LiDAR segmentation sensor and a camera segmentation
sensor gets its label from the CLI (per-frame rows: ``.label`` files and id PNGs);
its card shows one row per sensor as the single-dataset segmentation sequences
are shown: the LiDAR sensor's points top-down, each in its category's colour, the
camera sensor's frame with its bitmap; the slider moves both sensors together.
Expected colours are computed here from the files written, never read from the
server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from reviewkit import KEY
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from sequencekit import CATS, FRAMES, POINTS, frame_cloud, sample_uuid, write_pcd
from test_review_browser import click, wait_for
from test_review_sequences_browser import assert_point_colours, frames_of, js, points_drawn

from clikit import cli_env, run_cli, write_jsonl
from upload_preds.sandbox import start_sandbox

pytestmark = pytest.mark.slow

SENSORS = {
    "lidar-seg": "pointcloud-segmentation-sequence",
    "camera-seg": "image-segmentation-sequence",
}
#: Model class id → category (car 1, pedestrian 2, cyclist 3).
CLASS_MAP = {"10": "car", "30": "pedestrian"}
CATEGORY_OF_CLASS = {10: 1, 30: 2}


def rig_manifest(folder: Path) -> Path:
    """One ``seq/segrig`` sample (``segrig_0``) whose sensors' frames are files here (so
    the page draws the points, and the sandbox reads each frame's point count)."""
    (folder / "frames").mkdir()
    (folder / "clouds").mkdir()
    key = "segrig_0"
    pcds, images = [], []
    for f in range(FRAMES):
        write_pcd(folder / "clouds" / f"{key}_{f}.pcd", frame_cloud(key, f), binary=False)
        pcds.append({"pcd": {"url": f"clouds/{key}_{f}.pcd", "type": "pcd"}})
        Image.new("RGB", (64, 48), (40 * f, 80, 120)).save(folder / "frames" / f"{key}_{f}.png")
        images.append({"image": {"url": f"frames/{key}_{f}.png"}})
    sample = {
        "uuid": sample_uuid("segrig", 0),
        "name": key,
        "attributes": {
            "sensors": [
                {
                    "name": "lidar-seg",
                    "task_type": SENSORS["lidar-seg"],
                    "attributes": {"frames": pcds},
                },
                {
                    "name": "camera-seg",
                    "task_type": SENSORS["camera-seg"],
                    "attributes": {"frames": images},
                },
            ]
        },
    }
    manifest = {
        "datasets": [
            {
                "owner": "seq",
                "name": "segrig",
                "task_type": "multisensor-sequence",
                "task_attributes": {
                    "format_version": "0.1",
                    "categories": CATS,
                    "sensors": [{"name": n, "task_type": t} for n, t in SENSORS.items()],
                },
                "labelsets": [{"name": "ground-truth"}, {"name": "predictions"}],
                "samples": [sample],
            }
        ]
    }
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def write_predictions(folder: Path) -> dict[int, dict[str, Any]]:
    """Each frame's point labels (SemanticKITTI: class | instance << 16) and mask; the
    frame as the page should colour it: ``{"annotations", "point_annotations"}``."""
    rng = np.random.default_rng(5)
    rows: list[dict[str, Any]] = []
    expected: dict[int, dict[str, Any]] = {}
    for f in range(FRAMES):
        # Three instances (two cars, one pedestrian) and unlabeled points.
        parts = np.array([0, 10 | 1 << 16, 10 | 2 << 16, 30 | 3 << 16], dtype=np.uint32)
        values = parts[rng.integers(0, 4, POINTS)]
        (folder / "labels").mkdir(exist_ok=True)
        values.astype("<u4").tofile(folder / "labels" / f"{f}.label")
        ids = [int(v) for v in values]
        expected[f] = {
            "annotations": [
                {"id": int(v), "category_id": CATEGORY_OF_CLASS[int(v) & 0xFFFF]} for v in parts[1:]
            ],
            "point_annotations": ids,
        }
        rows.append(
            {
                "sample_name": "segrig_0",
                "sensor": "lidar-seg",
                "frame": f,
                "point_labels_path": f"labels/{f}.label",
            }
        )
        # The frame's mask: every pixel instance 1, of category f % 3 + 1.
        (folder / "masks").mkdir(exist_ok=True)
        Image.fromarray(np.ones((48, 64), np.uint8), "L").save(folder / "masks" / f"{f}.png")
        rows.append(
            {
                "sample_name": "segrig_0",
                "sensor": "camera-seg",
                "frame": f,
                "mask_path": f"masks/{f}.png",
                "annotations": [{"id": 1, "category": CATS[f % 3]["name"]}],
            }
        )
    write_jsonl(folder / "rows.jsonl", rows)
    (folder / "map.json").write_text(json.dumps(CLASS_MAP))
    return expected


def test_a_rigs_segmentation_sensors_are_shown_frame_by_frame(chrome: Any, tmp_path: Path) -> None:
    expected = write_predictions(tmp_path)
    with start_sandbox(data=rig_manifest(tmp_path), api_key=KEY) as sb:
        res = run_cli(
            ["rows.jsonl", "--dataset", "seq/segrig", "--category-map", "map.json"],
            env=cli_env(sb.url, KEY),
            cwd=tmp_path,
        )
        assert res.code == 0, res.stderr
        chrome.get(f"{sb.url}?dataset=seq/segrig&sort=name&a=ground-truth&b=predictions#key={KEY}")
        card = 'article[data-sample-name="segrig_0"]'
        wait_for(chrome, "the card", lambda: chrome.find_elements(By.CSS_SELECTOR, card))
        sensors = js(
            chrome,
            "return [...document.querySelectorAll(arguments[0] + ' .panel')].map(p => p.dataset.sensor)",
            card,
        )
        assert sensors == ["lidar-seg", "lidar-seg", "camera-seg", "camera-seg"]
        lidar = f"{card} [data-sensor=lidar-seg][data-labelset-panel=ground-truth]"
        camera = f"{card} [data-sensor=camera-seg][data-labelset-panel=ground-truth]"
        colors = {c["id"]: c["color"] for c in CATS}

        def painted() -> Any:
            return js(
                chrome,
                f"const c = document.querySelector('{camera} figure canvas');"
                "if (!c || c.dataset.mask !== 'drawn') return null;"
                "return [+c.closest('.panel').dataset.frame, ...c.getContext('2d').getImageData(5, 5, 1, 1).data]",
            )

        for f in (0, 1, FRAMES - 1):
            if f == 1:
                click(chrome, f"{card} .card-head h3")
                chrome.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
            elif f:
                slider = chrome.find_element(By.CSS_SELECTOR, f"{card} input.frame-slider")
                click(chrome, f"{card} input.frame-slider")
                slider.send_keys(Keys.END)
            wait_for(
                chrome, f"frame {f} everywhere", lambda f=f: frames_of(chrome, card) == [str(f)] * 4
            )
            wait_for(chrome, f"frame {f}'s points", lambda f=f: points_drawn(chrome, lidar, f))
            assert_point_colours(chrome, lidar, frame_cloud("segrig_0", f), expected[f])
            wait_for(chrome, f"frame {f}'s mask", lambda f=f: (painted() or [None])[0] == f)
            assert painted()[1:] == [*colors[f % 3 + 1], 255]
        # The sensor's row counts its own tracks: two cars and a pedestrian.
        counts = js(chrome, f"return document.querySelector('{lidar} .counts').textContent")
        assert counts == "car 2 · pedestrian 1"

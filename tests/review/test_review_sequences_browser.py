"""Sequences, point clouds and sensors on the review page, in a real headless Chromium.

The frame slider and the Left/Right keys move both panels (and every sensor's panels)
together; point-cloud cuboids are drawn top-down, one footprint per cuboid at its place and
heading (read back from the SVG, whose coordinates are the world's); point-cloud
segmentation colours each point by its instance's category (read back from the canvas'
pixels); an image segmentation sequence shows each frame's own bitmap. Expected values are
computed here from the labels put, never read from the server.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from reviewkit import KEY
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from sequencekit import CATS, FRAMES, frame_cloud, good_label, sample_uuid, write_manifest
from test_review_browser import click, wait_for

from upload_preds.sandbox import SandboxHandle, start_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def seq_sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with start_sandbox(data=write_manifest(tmp_path), api_key=KEY) as sb:
        yield sb


def put(sb: SandboxHandle, dataset: str, i: int, labelset: str, attrs: dict[str, Any]) -> None:
    with httpx.Client(base_url=sb.url, headers={"Authorization": f"APIKey {KEY}"}) as c:
        r = c.put(f"/labels/{sample_uuid(dataset, i)}/{labelset}/", json={"attributes": attrs})
        assert r.status_code in (200, 201), r.text


def open_dataset(driver: Any, sb: SandboxHandle, dataset: str) -> str:
    driver.get(f"{sb.url}?dataset=seq/{dataset}&sort=name&a=ground-truth&b=predictions#key={KEY}")
    card = f'article[data-sample-name="{dataset}_0"]'
    wait_for(driver, "the first card", lambda: driver.find_elements(By.CSS_SELECTOR, card))
    return card


def frames_of(driver: Any, card: str) -> list[str]:
    frames: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' .panel')].map(p => p.dataset.frame)",
        card,
    )
    return frames


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def test_slider_and_arrow_keys_move_both_panels(chrome: Any, seq_sandbox: SandboxHandle) -> None:
    gt, pred = good_label("image-vector-sequence", 1), good_label("image-vector-sequence", 2)
    put(seq_sandbox, "video", 0, "ground-truth", gt)
    put(seq_sandbox, "video", 0, "predictions", pred)
    card = open_dataset(chrome, seq_sandbox, "video")
    assert frames_of(chrome, card) == ["0", "0"]

    def shown(f: int) -> bool:
        if frames_of(chrome, card) != [str(f), str(f)]:
            return False
        imgs = js(
            chrome,
            "return [...document.querySelectorAll(arguments[0] + ' .panel img')]"
            ".map(i => i.getAttribute('src'))",
            card,
        )
        boxes = js(
            chrome,
            "return [...document.querySelectorAll(arguments[0] + ' .panel')].map("
            "p => [...p.querySelectorAll('rect[data-type=bbox]')].map(r => [+r.getAttribute('x'), +r.getAttribute('y')]))",
            card,
        )
        want = [[a["points"][0] for a in lab["frames"][f]["annotations"]] for lab in (gt, pred)]
        return imgs == [f"/_review/media/frames/video_0_{f}.png"] * 2 and boxes == want

    assert shown(0)
    # The slider, by mouse-free keyboard use: focus it, press Right twice.
    slider = chrome.find_element(By.CSS_SELECTOR, f"{card} input.frame-slider")
    click(chrome, f"{card} input.frame-slider")
    js(chrome, "arguments[0].value = '0'; arguments[0].dispatchEvent(new Event('input'))", slider)
    slider.send_keys(Keys.ARROW_RIGHT)
    slider.send_keys(Keys.ARROW_RIGHT)
    wait_for(chrome, "frame 2 in both panels", lambda: shown(2))
    # The page's arrows (focus on the page, not in a control) step the active card.
    click(chrome, f"{card} .card-head h3")
    chrome.switch_to.active_element.send_keys(Keys.ARROW_LEFT)
    wait_for(chrome, "frame 1 after Left", lambda: shown(1))
    chrome.find_element(By.TAG_NAME, "body").send_keys(
        Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT
    )
    wait_for(chrome, "the last frame, not past it", lambda: shown(FRAMES - 1))
    # Arrows typed in the search box move its caret, not the frames.
    query = chrome.find_element(By.ID, "query")
    query.send_keys("abc", Keys.ARROW_LEFT, Keys.ARROW_LEFT)
    assert shown(FRAMES - 1)
    assert js(chrome, "return document.getElementById('query').selectionStart") == 1
    assert (
        js(chrome, f"return document.querySelector('{card} .frame-label').textContent")
        == f"frame {FRAMES} / {FRAMES}"
    )


def expected_footprint(a: dict[str, Any]) -> list[tuple[float, float]]:
    p, d, yaw = a["position"], a["dimensions"], a["yaw"]
    c, s = math.cos(yaw), math.sin(yaw)
    out = []
    for u, v in (
        (d["x"] / 2, d["y"] / 2),
        (-d["x"] / 2, d["y"] / 2),
        (-d["x"] / 2, -d["y"] / 2),
        (d["x"] / 2, -d["y"] / 2),
    ):
        out.append((p["x"] + u * c - v * s, p["y"] + u * s + v * c))
    return out


def test_cuboids_are_drawn_top_down_at_their_place_and_heading(
    chrome: Any, seq_sandbox: SandboxHandle
) -> None:
    gt = good_label("pointcloud-cuboid-sequence", 1)
    pred = json.loads(json.dumps(gt))
    for frame in pred["frames"]:  # the model's boxes: shifted and turned
        for a in frame["annotations"]:
            a["position"]["x"] += 1.5
            a["yaw"] += 0.4
        frame["annotations"] = frame["annotations"][:2]
    put(seq_sandbox, "lidar-cuboids", 0, "ground-truth", gt)
    put(seq_sandbox, "lidar-cuboids", 0, "predictions", pred)
    card = open_dataset(chrome, seq_sandbox, "lidar-cuboids")
    for f in (0, 1):
        if f:
            click(chrome, f"{card} .card-head h3")
            chrome.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        wait_for(
            chrome,
            f"frame {f} with its points",
            lambda f=f: (
                frames_of(chrome, card) == [str(f)] * 2
                and js(
                    chrome,
                    "return [...document.querySelectorAll(arguments[0] + ' figure.bev')].every(x => x.dataset.points === 'drawn')",
                    card,
                )
            ),
        )
        for side, label in (("ground-truth", gt), ("predictions", pred)):
            panel = f'{card} [data-labelset-panel="{side}"]'
            drawn = js(
                chrome,
                "return [...document.querySelectorAll(arguments[0] + ' polygon.cuboid')].map(p => ["
                "+p.dataset.id, p.getAttribute('points')])",
                panel,
            )
            heads = js(
                chrome,
                "return [...document.querySelectorAll(arguments[0] + ' line.heading')].map(l => ["
                "+l.dataset.id, +l.getAttribute('x1'), +l.getAttribute('y1'), +l.getAttribute('x2'), +l.getAttribute('y2')])",
                panel,
            )
            anns = label["frames"][f]["annotations"]
            assert [i for i, _ in drawn] == [a["id"] for a in anns]
            assert len(heads) == len(anns)
            for (_, pts), (_, x1, y1, x2, y2), a in zip(drawn, heads, anns, strict=True):
                got = [float(v) for xy in pts.split() for v in xy.split(",")]
                want = [v for corner in expected_footprint(a) for v in corner]
                assert got == pytest.approx(want, abs=1e-6)
                half = a["dimensions"]["x"] / 2
                px, py = a["position"]["x"], a["position"]["y"]
                assert (x1, y1) == pytest.approx((px, py))
                assert (x2, y2) == pytest.approx(
                    (px + half * math.cos(a["yaw"]), py + half * math.sin(a["yaw"]))
                )
    # The two panels share one scale, so the shift of the model's boxes is visible as drawn.
    rs = js(
        chrome,
        "return [...document.querySelectorAll(arguments[0] + ' figure.bev')].map(f => f.dataset.r)",
        card,
    )
    assert len(set(rs)) == 1


def assert_point_colours(driver: Any, panel: str, pts: list[Any], frame: dict[str, Any]) -> None:
    """Pixels of points whose 2x2 dot no later point paints over: one of each instance and
    one unlabeled point, each in its category's colour (unlabeled grey)."""
    size, r = js(
        driver,
        f"const c = document.querySelector('{panel} canvas.bev-points'); return [c.width, +c.dataset.r]",
    )
    cat_of = {a["id"]: a["category_id"] for a in frame["annotations"]}
    colors = {c["id"]: c["color"] for c in CATS}
    pixels = [
        (math.floor((x + r) * size / (2 * r)), math.floor((r - y) * size / (2 * r)))
        for x, y, _ in pts
    ]
    checked: dict[int, int] = {}
    for k, (i, j) in enumerate(pixels):
        inst = frame["point_annotations"][k]
        if inst in checked or any(
            abs(i - i2) <= 2 and abs(j - j2) <= 2 for i2, j2 in pixels[k + 1 :]
        ):
            continue
        got = js(
            driver,
            f"const c = document.querySelector('{panel} canvas.bev-points');"
            "return [...c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data]",
            i,
            j,
        )
        want = colors[cat_of[inst]] if inst else [175, 175, 175]
        assert got == [*want, 255], (k, inst)
        checked[inst] = k
    assert set(checked) == {0, *cat_of}
    # Every point of the file was sent (fewer than 200,000) and drawn.
    drawn = js(
        driver, f"return +document.querySelector('{panel} canvas.bev-points').dataset.points"
    )
    assert drawn == len(pts)


def points_drawn(driver: Any, panel: str, frame: int) -> bool:
    return bool(
        js(
            driver,
            f"const p = document.querySelector('{panel}'), f = p.querySelector('figure.bev');"
            f"return p.dataset.frame === '{frame}' && f && f.dataset.points === 'drawn'",
        )
    )


def test_point_cloud_segmentation_colours_points_by_category(
    chrome: Any, seq_sandbox: SandboxHandle
) -> None:
    label = good_label("pointcloud-segmentation", 3)
    put(seq_sandbox, "scan", 0, "ground-truth", label)
    card = open_dataset(chrome, seq_sandbox, "scan")
    panel = f'{card} [data-labelset-panel="ground-truth"]'
    wait_for(chrome, "the points", lambda: points_drawn(chrome, panel, 0))
    assert_point_colours(chrome, panel, frame_cloud("scan_0", 0), label)
    # The other panel has no label: its points are drawn, all grey.
    other = f'{card} [data-labelset-panel="predictions"]'
    wait_for(chrome, "the unlabeled panel's points", lambda: points_drawn(chrome, other, 0))


def test_segmentation_sequence_colours_each_frames_points(
    chrome: Any, seq_sandbox: SandboxHandle
) -> None:
    label = good_label("pointcloud-segmentation-sequence", 4)
    put(seq_sandbox, "scans", 1, "predictions", label)
    open_dataset(chrome, seq_sandbox, "scans")
    card = 'article[data-sample-name="scans_1"]'
    panel = f'{card} [data-labelset-panel="predictions"]'
    for f in range(FRAMES):
        if f:
            click(chrome, f"{card} .card-head h3")
            chrome.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        wait_for(chrome, f"frame {f}'s points", lambda f=f: points_drawn(chrome, panel, f))
        assert_point_colours(chrome, panel, frame_cloud("scans_1", f), label["frames"][f])


def mask_png(instance: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (64, 48), (instance, 0, 0, 255)).save(buf, "PNG")
    return buf.getvalue()


def test_segmentation_sequence_shows_each_frames_bitmap(
    chrome: Any, seq_sandbox: SandboxHandle
) -> None:
    label = good_label("image-segmentation-sequence", 1)
    with httpx.Client(base_url=seq_sandbox.url, headers={"Authorization": f"APIKey {KEY}"}) as c:
        for f, frame in enumerate(label["frames"]):
            asset = c.post("/assets/", json={"filename": f"m{f}.png"}).json()
            post = asset["presignedPostFields"]
            r = httpx.post(post["url"], data=post["fields"], files={"file": ("m.png", mask_png(1))})
            assert r.status_code == 204
            frame["segmentation_bitmap"]["url"] = asset["url"]
            # Instance 1 of frame f is of category f % 3 + 1: each frame's mask shows its own colour.
            frame["annotations"][0]["category_id"] = f % 3 + 1
    put(seq_sandbox, "video-masks", 0, "ground-truth", label)
    card = open_dataset(chrome, seq_sandbox, "video-masks")
    panel = f'{card} [data-labelset-panel="ground-truth"]'
    colors = {c["id"]: c["color"] for c in CATS}
    for f in range(FRAMES):
        if f:
            click(chrome, f"{card} .card-head h3")
            chrome.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)

        def painted(f: int = f) -> Any:
            return js(
                chrome,
                f"const c = document.querySelector('{panel} figure canvas');"
                "if (!c || c.dataset.mask !== 'drawn') return null;"
                "return [+c.closest('.panel').dataset.frame, ...c.getContext('2d').getImageData(5, 5, 1, 1).data]",
            )

        wait_for(chrome, f"frame {f}'s mask", lambda f=f: (painted() or [None])[0] == f)
        assert painted()[1:] == [*colors[f % 3 + 1], 255]


def test_multisensor_cards_move_every_sensor_together(
    chrome: Any, seq_sandbox: SandboxHandle
) -> None:
    put(seq_sandbox, "rig", 0, "ground-truth", good_label("multisensor-sequence", 1))
    card = open_dataset(chrome, seq_sandbox, "rig")
    sensors = js(
        chrome,
        "return [...document.querySelectorAll(arguments[0] + ' .panel')].map(p => p.dataset.sensor)",
        card,
    )
    assert sensors == ["lidar", "lidar", "camera", "camera"]
    assert js(chrome, f"return document.querySelectorAll('{card} figure.bev').length") == 2
    slider = chrome.find_element(By.CSS_SELECTOR, f"{card} input.frame-slider")
    click(chrome, f"{card} input.frame-slider")
    slider.send_keys(Keys.END)
    wait_for(
        chrome,
        "the last frame everywhere",
        lambda: frames_of(chrome, card) == [str(FRAMES - 1)] * 4,
    )
    boxes = js(
        chrome,
        f"return document.querySelectorAll('{card} [data-sensor=camera][data-labelset-panel=ground-truth] rect').length",
    )
    assert boxes == 2
    # Each sensor's row counts that sensor's own tracks.
    counts = js(
        chrome,
        "return [...document.querySelectorAll(arguments[0] + ' [data-labelset-panel=ground-truth]"
        " .counts')].map(c => c.textContent)",
        card,
    )
    assert counts == ["car 2 · pedestrian 1", "car 1 · pedestrian 1"]

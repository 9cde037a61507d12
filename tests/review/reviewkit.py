"""Helpers of the review tests: a populated sandbox and a headless Chromium driven by Selenium.

pytest runs with ``--import-mode=importlib``; ``conftest.py`` puts this
directory on ``sys.path`` so test modules can ``import reviewkit``.

The predictions put into the sandbox are generated from a seeded RNG
(:func:`predictions`); tests compute what they expect from the same data,
never from the page or the server under test.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "sample_data" / "dataset.json"
KEY = "review-key-0123"
DS = "demo/street-scenes"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "test-artifacts"


def demo_manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))
    return data


def category_ids() -> dict[str, int]:
    cats = demo_manifest()["datasets"][0]["task_attributes"]["categories"]
    return {c["name"]: c["id"] for c in cats}


@dataclass(frozen=True)
class Prediction:
    sample_uuid: str
    sample_name: str
    score: float
    annotations: list[dict[str, Any]]

    def body(self) -> dict[str, Any]:
        return {
            "label_status": "PRELABELED",
            "score": self.score,
            "attributes": {"format_version": "0.1", "annotations": self.annotations},
        }


def predictions(seed: int = 7) -> list[Prediction]:
    """One predictions label per demo sample: boxes of random categories, a polygon, a point."""
    rng = random.Random(seed)
    ids = category_ids()
    out = []
    for i, s in enumerate(demo_manifest()["datasets"][0]["samples"]):
        anns: list[dict[str, Any]] = []
        for k in range(rng.randint(0, 5)):
            x, y = rng.uniform(0, 500), rng.uniform(150, 400)
            anns.append(
                {
                    "id": k + 1,
                    "category_id": rng.choice(
                        [ids["car"], ids["car"], ids["pedestrian"], ids["truck"]]
                    ),
                    "type": "bbox",
                    "points": [[round(x, 1), round(y, 1)], [round(x + 80, 1), round(y + 60, 1)]],
                    "attributes": {"confidence": round(rng.uniform(0.2, 0.99), 3)},
                }
            )
        if i % 3 == 0:
            anns.append(
                {
                    "id": len(anns) + 1,
                    "category_id": ids["road"],
                    "type": "polygon",
                    "points": [[0, 479], [250, 260], [390, 260], [639, 479]],
                }
            )
        if i % 4 == 1:
            anns.append(
                {
                    "id": len(anns) + 1,
                    "category_id": ids["traffic_light"],
                    "type": "point",
                    "points": [[505.0, 96.5]],
                }
            )
        # Distinct scores, so "sorted by score" has exactly one right order.
        score = round(0.05 + 0.9 * rng.random(), 4) + i * 1e-6
        out.append(Prediction(s["uuid"], s["name"], score, anns))
    return out


def put_predictions(url: str, preds: list[Prediction], labelset: str = "predictions") -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"APIKey {KEY}"}) as c:
        for p in preds:
            r = c.put(f"/labels/{p.sample_uuid}/{labelset}/", json=p.body())
            assert r.status_code in (200, 201), r.text


def browser_missing() -> str | None:
    """Why the browser cannot be started here, or None."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        return (
            f"the browser tests need {', '.join(missing)}: run `make browser-deps` "
            "(as root: apt-get install chromium chromium-driver; pip install -e '.[test]')"
        )
    return None


def start_chrome(width: int = 1400, height: int = 1000) -> tuple[Any, Path]:
    """A headless Chromium through /usr/bin/chromedriver; nothing is downloaded."""
    os.environ["SE_OFFLINE"] = "1"  # Selenium Manager must never fetch a driver or browser.
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="review-chromium-"))
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=str(CHROMEDRIVER)))
    return driver, profile


def remove_profile(profile: Path) -> None:
    shutil.rmtree(profile, ignore_errors=True)

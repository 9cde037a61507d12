"""Fixtures of the review tests: a sandbox with the demo images and generated predictions.

Every sandbox binds a free loopback port and is stopped in teardown. The
browser fixture (module scope: one Chromium per test module, ~2 s to start)
fails, never skips, when Chromium, chromedriver or selenium is missing, and
says to run ``make browser-deps``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# sequencekit (datasets of every sequence and point-cloud task type) lives with the sandbox tests.
sys.path.insert(0, str(Path(__file__).parents[1] / "sandbox"))

from reviewkit import (
    DEMO,
    KEY,
    Prediction,
    browser_missing,
    predictions,
    put_predictions,
    remove_profile,
    start_chrome,
)

from upload_preds.sandbox import SandboxHandle, start_sandbox


@pytest.fixture
def preds() -> list[Prediction]:
    return predictions()


@pytest.fixture
def review_sandbox(tmp_path: Path, preds: list[Prediction]) -> Iterator[SandboxHandle]:
    """The demo manifest (file, so its images are served), a db file, predictions for all 24."""
    with start_sandbox(data=DEMO, db=tmp_path / "review.sqlite3", api_key=KEY) as handle:
        put_predictions(handle.url, preds)
        yield handle


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    why = browser_missing()
    if why is not None:
        pytest.fail(why, pytrace=False)
    driver, profile = start_chrome()
    try:
        yield driver
    finally:
        driver.quit()
        remove_profile(profile)

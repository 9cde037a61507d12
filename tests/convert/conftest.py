"""Fixtures of the conversion tests; helpers live in ``convkit.py``.

pytest runs with ``--import-mode=importlib``, which does not put test
directories on ``sys.path``: this conftest adds its own directory so the test
modules can ``import convkit``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from convkit import DATA, DATASET, record

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories


@pytest.fixture(scope="session")
def full_labels() -> dict[str, dict[str, Any]]:
    """One complete label per task type (tests/convert/data/full_labels.json)."""
    labels: dict[str, dict[str, Any]] = json.loads((DATA / "full_labels.json").read_text())
    return labels


@pytest.fixture(scope="session")
def street_categories() -> Categories:
    """The demo dataset's 8 categories (demo/street-scenes, task type vector)."""
    # The manifest's first dataset (it holds several; a categories file names one).
    first = json.loads(DATASET.read_text())["datasets"][0]
    return Categories.from_task_attributes(first["task_attributes"], first["task_type"])


_DEFAULT = object()


@pytest.fixture
def convert(street_categories: Categories) -> Callable[..., Any]:
    """``convert(row, categories=..., task_type=..., **options)`` → LabelJob or errors.

    Categories default to the demo dataset's.
    """

    def run(row: Any, categories: Any = _DEFAULT, task_type: str | None = None, **opts: Any) -> Any:
        cats = street_categories if categories is _DEFAULT else categories
        conv = Converter(ConvertOptions(**opts), cats, task_type=task_type)
        return conv.convert(record(row))

    return run

"""Categories: the three file shapes, bad files, lookups and suggestions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from convkit import DATASET, ROOT

from upload_preds.convert.categories import Categories, CategoryMatch
from upload_preds.errors import InputFileError

STREET = [
    "car",
    "truck",
    "pedestrian",
    "cyclist",
    "traffic_light",
    "traffic_sign",
    "lane_marking",
    "road",
]


def _task_attributes() -> dict[str, Any]:
    manifest = json.loads(DATASET.read_text())
    attrs: dict[str, Any] = manifest["datasets"][0]["task_attributes"]
    return attrs


@pytest.mark.parametrize(
    ("content", "task_type"),
    [
        (lambda: _task_attributes(), None),
        (lambda: {"task_type": "vector", "task_attributes": _task_attributes()}, "vector"),
        # The demo manifest's first dataset (it holds several; a categories file one).
        (lambda: {"datasets": json.loads(DATASET.read_text())["datasets"][:1]}, "vector"),
    ],
    ids=["task-attributes", "dataset-object", "sandbox-manifest"],
)
def test_file_shapes(tmp_path: Path, content: Any, task_type: str | None) -> None:
    path = tmp_path / "cats.json"
    path.write_text(json.dumps(content()))
    cats = Categories.from_file(path)
    assert cats.names == STREET
    assert cats.ids == list(range(1, 9))
    assert cats.task_type == task_type


def test_sample_data_categories_file() -> None:
    cats = Categories.from_file(ROOT / "sample_data" / "categories.json")
    assert cats.names_by_id() == dict(enumerate(STREET, 1))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "task_attributes should be a JSON object"),
        ('{"format_version": "0.1"}', "has no 'categories' list"),
        ('{"categories": [{"id": "1", "name": "car"}]}', "categories[0].id should be an integer"),
        ('{"categories": [{"id": true, "name": "car"}]}', "categories[0].id should be an integer"),
        ('{"categories": [{"id": 1}]}', "categories[0].name should be a non-empty string"),
        ('{"categories": ["car"]}', "categories[0] should be an object"),
        (
            '{"categories": [{"id": 1, "name": "car"}, {"id": 1, "name": "bus"}]}',
            "category id 1 is used twice ('car' and 'bus')",
        ),
        (
            '{"task_type": "audio", "task_attributes": {"categories": []}}',
            "unknown task type 'audio'",
        ),
        ('{"datasets": []}', "holds 0 datasets"),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "no-categories",
        "string-id",
        "bool-id",
        "no-name",
        "category-not-object",
        "duplicate-id",
        "unknown-task-type",
        "empty-manifest",
    ],
)
def test_bad_files(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "cats.json"
    path.write_text(text)
    with pytest.raises(InputFileError) as info:
        Categories.from_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert fragment in str(info.value)
    assert info.value.hint is not None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot read the categories file"):
        Categories.from_file(tmp_path / "nope.json")


def test_empty_task_type_means_unknown() -> None:
    assert Categories.from_task_attributes({"categories": []}, "").task_type is None


@pytest.fixture(scope="module")
def cats() -> Categories:
    return Categories([(i, n) for i, n in enumerate(STREET, 1)], "vector")


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("car", CategoryMatch(1, "car", True)),
        ("Car", CategoryMatch(1, "car", False)),
        ("TRAFFIC_SIGN", CategoryMatch(6, "traffic_sign", False)),
        ("bus", None),
        ("", None),
    ],
    ids=["exact", "case", "upper", "unknown", "empty"],
)
def test_lookup(cats: Categories, name: str, match: CategoryMatch | None) -> None:
    assert cats.lookup(name) == match


@pytest.mark.parametrize(
    ("name", "suggestions"),
    [
        ("pedestrain", ["pedestrian"]),
        ("Traffic light", ["traffic_light", "traffic_sign"]),
        ("cars", ["car"]),
        ("xyzzy", []),
    ],
    ids=["typo", "space-and-case", "plural", "nothing-close"],
)
def test_suggest(cats: Categories, name: str, suggestions: list[str]) -> None:
    assert cats.suggest(name) == suggestions


def test_ambiguous_names() -> None:
    cats = Categories([(1, "Car"), (2, "car"), (3, "bus"), (4, "bus")])
    assert cats.lookup("Car") == CategoryMatch(1, "Car", True)
    assert cats.lookup("car") == CategoryMatch(2, "car", True)
    assert cats.lookup("CAR") is None
    assert cats.is_ambiguous("CAR")
    assert cats.lookup("bus") is None
    assert cats.is_ambiguous("bus")
    assert not cats.is_ambiguous("car")


def test_ids_and_description(cats: Categories) -> None:
    assert cats.has_id(8)
    assert not cats.has_id(9)
    assert cats.name_of(3) == "pedestrian"
    assert cats.describe_ids(limit=2) == "1 car, 2 truck, ... (8 in all)"
    assert len(cats) == 8

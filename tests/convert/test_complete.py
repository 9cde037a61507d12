"""Complete ``attributes`` rows and the label models: every task type round-trips,
an unknown key anywhere is an error naming its path, and the row schema matches
what the converter accepts."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from convkit import DATA, SDK_MODELS, errs, ok, record, sdk_check

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.bitmaps import MASK_ANN_KEYS
from upload_preds.convert.categories import Categories
from upload_preds.convert.converter import ALL_ROW_KEYS, ROW_KEYS
from upload_preds.convert.shorthand import ANN_KEYS
from upload_preds.labelcheck import validate_attributes
from upload_preds.labelmodels import TASK_TYPES, label_kind
from upload_preds.rowschema import (
    AttributesRow,
    MaskAnnotation,
    MaskRow,
    ShorthandAnnotation,
    ShorthandRow,
    row_json_schema,
)

KINDS = sorted(SDK_MODELS)
CATS = [(i, f"c{i}") for i in range(1, 9)]


def converter(task_type: str | None) -> Converter:
    return Converter(ConvertOptions(), Categories(CATS, task_type))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("known", [True, False], ids=["task-type-known", "task-type-detected"])
def test_full_labels_round_trip(full_labels: dict[str, Any], kind: str, known: bool) -> None:
    attributes = full_labels[kind]
    data = {"sample_uuid": "u", "labelset": "preds", "score": 0.5, "attributes": attributes}
    job = ok(converter(kind if known else None).convert(record(copy.deepcopy(data))))
    assert job.attributes == attributes
    assert (job.score, job.labelset) == (0.5, "preds")
    sdk_check(kind, job.attributes)


@pytest.mark.parametrize("task_type", sorted(TASK_TYPES))
def test_every_task_type_has_a_model(full_labels: dict[str, Any], task_type: str) -> None:
    kind = label_kind(task_type)
    assert kind in full_labels
    normalized, problems = validate_attributes(full_labels[kind], task_type)  # type: ignore[index]
    assert problems == []
    assert normalized == full_labels[kind]  # type: ignore[index]


def _strict_dicts(node: Any, path: str, free: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object of a label where the format fixes the keys, with its path.

    Attribute maps (``attributes`` of annotations and links, ``image_attributes``)
    take any key and are skipped; a multi-sensor sensor's ``attributes`` is a
    label and is not.
    """
    if isinstance(node, dict):
        if not free:
            yield path, node
        for key, value in node.items():
            sub = f"{path}.{key}" if path else key
            is_free = key == "image_attributes" or (key == "attributes" and "task_type" not in node)
            yield from _strict_dicts(value, sub, is_free)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strict_dicts(value, f"{path}[{i}]", free)


def _places(full_labels: dict[str, Any]) -> list[tuple[str, str]]:
    return [(kind, path) for kind in KINDS for path, _ in _strict_dicts(full_labels[kind], "")]


def _insert(label: dict[str, Any], target: str) -> dict[str, Any]:
    out = copy.deepcopy(label)
    for path, node in _strict_dicts(out, ""):
        if path == target:
            node["bogus"] = 1
            return out
    raise AssertionError(target)


# The data file decides the cases: one per object of every complete label.
PLACES = _places(json.loads((DATA / "full_labels.json").read_text()))


@pytest.mark.parametrize("known", [True, False], ids=["task-type-known", "task-type-detected"])
@pytest.mark.parametrize(("kind", "path"), PLACES, ids=[f"{k}:{p or '<root>'}" for k, p in PLACES])
def test_unknown_key_anywhere_is_an_error(
    full_labels: dict[str, Any], kind: str, path: str, known: bool
) -> None:
    attributes = _insert(full_labels[kind], path)
    data = {"sample_uuid": "u", "attributes": attributes}
    errors = errs(converter(kind if known else None).convert(record(data)))
    expected = "attributes." + (f"{path}.bogus" if path else "bogus")
    fields = [e.field for e in errors]
    assert expected in fields, [str(e) for e in errors]
    bogus = errors[fields.index(expected)]
    assert bogus.reason == "invalid label attributes"
    assert "unknown field" in bogus.message
    # Nothing else is blamed: the one unknown key is the only problem.
    assert fields == [expected], [str(e) for e in errors]


@pytest.mark.parametrize(
    ("task_type", "attributes", "field", "fragment"),
    [
        (
            "vector",
            {"annotations": [{"id": "1", "category_id": 1, "type": "bbox", "points": [[0, 0]]}]},
            "attributes.annotations[0].id",
            "should be a valid integer, got '1'",
        ),
        (
            "vector",
            {"annotations": [{"id": 1, "category_id": 1, "type": "box", "points": [[0, 0]]}]},
            "attributes.annotations[0].type",
            "'bbox', 'polygon', 'polyline' or 'point', got 'box'",
        ),
        (
            "vector",
            {"annotations": [{"id": 1, "category_id": 1, "type": "bbox"}]},
            "attributes.annotations[0].points",
            "required field is missing",
        ),
        (
            "vector",
            {"annotations": [{"id": 1, "category_id": 1, "type": "bbox", "points": [[0, True]]}]},
            "attributes.annotations[0].points[0][1]",
            "should be a valid number, got True",
        ),
        (
            "vector",
            {
                "annotations": [
                    {
                        "id": 1,
                        "category_id": 1,
                        "type": "point",
                        "points": [[0, 1]],
                        "attributes": {"c": float("inf")},
                    }
                ]
            },
            "attributes.annotations[0].attributes.c",
            "finite number",
        ),
        (
            "vector",
            {"annotations": [], "image_attributes": {"tags": {"a": 1}}},
            "attributes.image_attributes.tags",
            "should be a string, boolean, integer, number or list",
        ),
        (
            "segmentation-bitmap",
            {"annotations": []},
            "attributes.segmentation_bitmap",
            "required field is missing",
        ),
        (
            "multisensor-sequence",
            {"sensors": [{"name": "a", "task_type": "radar", "attributes": []}]},
            "attributes.sensors[0].task_type",
            "got 'radar'",
        ),
        (
            "multisensor-sequence",
            {"sensors": [{"name": "a", "task_type": "image-vector-sequence", "attributes": [1]}]},
            "attributes.sensors[0].attributes",
            "or [] for a sensor without a label",
        ),
        (
            "pointcloud-cuboid",
            {"annotations": [{"id": 1, "category_id": 1, "type": "cuboid", "position": {"x": 0}}]},
            "attributes.annotations[0].position.y",
            "required field is missing",
        ),
        (
            "vector",
            [],
            "attributes",
            "should be a JSON object",
        ),
    ],
    ids=[
        "string-id",
        "bad-type",
        "missing-points",
        "bool-coordinate",
        "infinite-attribute",
        "nested-image-attribute",
        "missing-bitmap",
        "unknown-sensor-type",
        "non-empty-sensor-list",
        "partial-position",
        "not-an-object",
    ],
)
def test_attribute_errors(task_type: str, attributes: Any, field: str, fragment: str) -> None:
    errors = errs(
        converter(task_type).convert(record({"sample_uuid": "u", "attributes": attributes}))
    )
    fields = [e.field for e in errors]
    assert field in fields, [str(e) for e in errors]
    message = errors[fields.index(field)].message
    assert fragment in message
    assert "pydantic" not in message


def test_detection_failure_says_what_was_tried() -> None:
    attributes = {"annotations": [{"id": 1, "category_id": 1, "type": "box", "points": [[0, 0]]}]}
    (e,) = errs(converter(None).convert(record({"sample_uuid": "u", "attributes": attributes})))
    assert (e.field, e.reason) == ("attributes.annotations[0].type", "invalid label attributes")
    assert e.message.startswith("should be 'bbox', 'polygon', 'polyline' or 'point', got 'box'")
    assert "(checked as image vector, the closest of the label formats tried: image vector, " in (
        e.message
    )


def test_category_ids_and_duplicate_ids_in_full_labels(full_labels: dict[str, Any]) -> None:
    label = copy.deepcopy(full_labels["image-vector-sequence"])
    label["frames"][1]["annotations"][0]["category_id"] = 42
    label["frames"][0]["annotations"].append(dict(label["frames"][0]["annotations"][0]))
    errors = errs(converter(None).convert(record({"sample_uuid": "u", "attributes": label})))
    assert [(e.field, e.reason) for e in errors] == [
        ("attributes.frames[0].annotations[1].id", "duplicate annotation id"),
        ("attributes.frames[1].annotations[0].category_id", "unknown category id"),
    ]


def test_multisensor_category_ids_are_checked(full_labels: dict[str, Any]) -> None:
    label = copy.deepcopy(full_labels["multisensor-sequence"])
    label["sensors"][0]["attributes"]["frames"][0]["annotations"][0]["category_id"] = 99
    (e,) = errs(converter(None).convert(record({"sample_uuid": "u", "attributes": label})))
    assert e.field == "attributes.sensors[0].attributes.frames[0].annotations[0].category_id"


def test_image_attributes_beside_attributes_is_refused(full_labels: dict[str, Any]) -> None:
    data = {"sample_uuid": "u", "attributes": full_labels["vector"], "image_attributes": {}}
    (e,) = errs(converter(None).convert(record(data)))
    assert e.field == "image_attributes"
    assert "inside the attributes object" in e.message


def test_task_type_mismatch_is_reported(full_labels: dict[str, Any]) -> None:
    data = {"sample_uuid": "u", "attributes": full_labels["pointcloud-cuboid"]}
    errors = errs(converter("vector").convert(record(data)))
    assert {e.reason for e in errors} == {"invalid label attributes"}


# --- the row schema --------------------------------------------------------------------------


def test_schema_is_documented() -> None:
    schema = row_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "sample_uuid" in schema["description"]
    refs = {item["$ref"].rsplit("/", 1)[1] for item in schema["anyOf"]}
    assert refs == {
        "ShorthandRow",
        "AttributesRow",
        "MaskRow",
        "SequenceRow",
        "PointLabelsRow",
        "MaskFrameRow",
    }
    shorthand = schema["$defs"]["ShorthandRow"]
    assert shorthand["additionalProperties"] is False
    for name, prop in shorthand["properties"].items():
        assert prop.get("description"), name
    ann = schema["$defs"]["ShorthandAnnotation"]["properties"]
    assert "--bbox-format" in ann["bbox"]["description"]


def test_schema_matches_the_converter() -> None:
    """The documented fields are exactly the ones the converter accepts."""
    # width/height scale --normalized shorthand rows; the mask fields are MaskRow's.
    assert set(ShorthandRow.model_fields) | {"attributes"} == ROW_KEYS | {
        "width",
        "height",
    }
    assert set(MaskRow.model_fields) == (
        (ALL_ROW_KEYS - {"attributes", "image_attributes"}) | {"annotations"}
    )
    assert set(MaskAnnotation.model_fields) == MASK_ANN_KEYS
    assert set(AttributesRow.model_fields) | {"annotations", "image_attributes"} == (ROW_KEYS)
    assert set(ShorthandAnnotation.model_fields) == ANN_KEYS


def test_schema_examples_convert(street_categories: Categories) -> None:
    conv = Converter(ConvertOptions(), street_categories)
    for model in (ShorthandRow, AttributesRow):
        for example in model.model_json_schema()["examples"]:
            ok(conv.convert(record(example)))
            model.model_validate(example)
    for example in MaskRow.model_json_schema()["examples"]:
        MaskRow.model_validate(example)  # (they name mask files: converted in tests/masks)

"""Helpers of the point-cloud segmentation tests (imported as ``pcsegkit``).

:func:`make_scan` generates a SemanticKITTI-style prediction: one ``uint32``
per point, the class in the lower 16 bits and the instance in the upper 16,
in runs the way a scan's points of one object lie together, shuffled by a
seeded generator. The tests compare what the label says with what the file
says, counted here with numpy independently of the converter: distinct
(class, instance) pairs, distinct classes, points per category.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import segments.typing as st
from PIL import Image

from clikit import cli_env, run_cli

#: The dataset's categories: SemanticKITTI-like names with ids of their own.
CATEGORIES = [
    {"id": 1, "name": "car"},
    {"id": 2, "name": "person"},
    {"id": 3, "name": "road"},
    {"id": 4, "name": "building"},
    {"id": 5, "name": "vegetation"},
]
#: Raw model class id → category name, or None (left unlabeled).
CLASS_MAP: dict[str, str | None] = {
    "0": None,
    "1": None,
    "10": "car",
    "252": "car",
    "30": "person",
    "40": "road",
    "50": "building",
    "70": "vegetation",
}
CATEGORY_IDS = {c["name"]: c["id"] for c in CATEGORIES}

#: (raw class, instance, points) of a scan: stuff classes without instances,
#: cars and people with their own.
PARTS = [
    (40, 0, 400),
    (50, 0, 250),
    (70, 0, 200),
    (10, 1, 120),
    (10, 2, 90),
    (252, 3, 60),
    (30, 4, 40),
    (0, 0, 25),
    (1, 0, 15),
]


def make_scan(parts: list[tuple[int, int, int]] = PARTS, seed: int = 7) -> np.ndarray[Any, Any]:
    """A scan's packed labels (``uint32``), its points shuffled."""
    values = np.concatenate(
        [np.full(n, cls | inst << 16, dtype=np.uint32) for cls, inst, n in parts]
    )
    np.random.default_rng(seed).shuffle(values)
    return values


def write_label(path: Path, values: np.ndarray[Any, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    values.astype("<u4").tofile(path)
    return path


def write_mask(path: Path, ids: np.ndarray[Any, Any]) -> None:
    """An id image (8-bit grey, pixel value = id), as a model writes a frame's mask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ids.astype(np.uint8), "L").save(path)


def ids_of_png(png: bytes) -> np.ndarray[Any, Any]:
    """The ids of an uploaded bitmap: R + 256 G + 65536 B per pixel."""
    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(np.int64)
    return a[..., 0] + 256 * a[..., 1] + 65536 * a[..., 2]


def check_point_frame(
    frame: dict[str, Any], raw: np.ndarray[Any, Any], tracks: dict[int, int]
) -> None:
    """A frame of a point-cloud segmentation sequence says what its file says, and each
    object is a track whose category stays that of ``tracks`` (filled over the frames)."""
    anns = frame["annotations"]
    assert all(a["track_id"] == a["id"] and a["is_keyframe"] for a in anns)
    plain = {
        "format_version": frame["format_version"],
        "annotations": [{"id": a["id"], "category_id": a["category_id"]} for a in anns],
        "point_annotations": frame["point_annotations"],
    }
    check_label(plain, raw)
    for a in anns:
        assert tracks.setdefault(a["track_id"], a["category_id"]) == a["category_id"]


def check_mask_frames(frames: list[dict[str, Any]], masks: dict[int, np.ndarray[Any, Any]]) -> None:
    """Each masked frame's objects (ids 1 car and 2 person, tracks of the same id) and its
    uploaded bitmap, downloaded and compared pixel by pixel."""
    import httpx

    for f, ids in masks.items():
        frame = frames[f]
        assert [(a["id"], a["track_id"], a["category_id"]) for a in frame["annotations"]] == [
            (1, 1, 1),
            (2, 2, 2),
        ]
        r = httpx.get(frame["segmentation_bitmap"]["url"])
        r.raise_for_status()
        assert (ids_of_png(r.content) == ids).all()


def expected_category(raw: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Every point's category id by CLASS_MAP (0: unlabeled), from the file alone."""
    out = np.zeros(raw.size, dtype=np.int64)
    for key, name in CLASS_MAP.items():
        if name is not None:
            out[(raw & 0xFFFF) == int(key)] = CATEGORY_IDS[name]
    return out


def check_label(attributes: dict[str, Any], raw: np.ndarray[Any, Any]) -> None:
    """The label is a valid SDK point cloud segmentation label that says what the file says."""
    model = st.PointcloudSegmentationLabelAttributes.model_validate(attributes)
    assert model.model_dump(mode="json", exclude_unset=True) == attributes
    assert attributes["format_version"] == "0.2"
    ids = np.asarray(attributes["point_annotations"], dtype=np.int64)
    assert ids.size == raw.size
    cat_of = {a["id"]: a["category_id"] for a in attributes["annotations"]}
    assert len(cat_of) == len(attributes["annotations"])  # ids are unique
    assert 0 not in cat_of
    # Each point's annotation has the category its class maps to; unmapped points are 0.
    got = np.array([cat_of.get(i, 0) for i in ids.tolist()], dtype=np.int64)
    assert (got == expected_category(raw)).all()
    # One annotation per distinct (class, instance) pair of a mapped class, and every
    # annotation is used by some point.
    mapped = expected_category(raw) != 0
    pairs = set(raw[mapped].tolist())
    assert len(attributes["annotations"]) == len(pairs)
    assert set(ids[mapped].tolist()) == set(cat_of)
    # The points of one annotation are exactly those of one (class, instance) pair.
    for aid in cat_of:
        assert len(set(raw[ids == aid].tolist())) == 1


def upload(url: str, key: str, tmp: Path, dataset: str, *extra: str) -> tuple[int, str]:
    """``upload-preds rows.jsonl`` in ``tmp`` to ``dataset`` (the map written beside it, a
    journal and a failures file of its own there); the exit code and stderr."""
    (tmp / "map.json").write_text(json.dumps(CLASS_MAP))
    res = run_cli(
        [
            "rows.jsonl",
            "--dataset",
            dataset,
            "--state",
            str(tmp / "journal.sqlite3"),
            "--failures",
            "failed.jsonl",
            *extra,
        ],
        env=cli_env(url, key),
        cwd=tmp,
    )
    return res.code, res.stderr


def categories_file(path: Path) -> Path:
    path.write_text(json.dumps({"format_version": "0.1", "categories": CATEGORIES}))
    return path


def class_counts(attributes: dict[str, Any]) -> Counter[int]:
    """Annotations per category of a label."""
    return Counter(a["category_id"] for a in attributes["annotations"])

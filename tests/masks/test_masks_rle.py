"""The RLE decoder of upload_preds.masks against pycocotools, the independent reader.

Each mask is encoded by pycocotools (compressed counts string, and the
uncompressed list of counts COCO writes for crowd annotations) and decoded by
both; the pixels must be identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from upload_preds.masks import MaskError, decode_rle_counts, rle_mask

# pycocotools' decode (Cython) still passes copy=False to numpy 2: its warning, not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _case(name: str, h: int, w: int, seed: int, density: float) -> Any:
    rng = np.random.default_rng(seed)
    a = (rng.random((h, w)) < density).astype(np.uint8)
    return pytest.param(a, id=f"{name}-{h}x{w}")


def _corners() -> np.ndarray[Any, Any]:
    a = np.zeros((9, 13), np.uint8)
    a[0, 0] = a[-1, -1] = a[0, -1] = a[-1, 0] = 1
    return a


def _blocks() -> np.ndarray[Any, Any]:
    a = np.zeros((480, 640), np.uint8)
    a[100:300, 50:400] = 1
    a[350:479, 500:639] = 1
    return a


MASKS = [
    pytest.param(np.zeros((4, 6), np.uint8), id="empty"),
    pytest.param(np.ones((5, 3), np.uint8), id="full"),
    pytest.param(_corners(), id="corner-pixels"),
    pytest.param(_blocks(), id="large-blocks-long-runs"),
    _case("sparse", 37, 53, 1, 0.05),
    _case("dense", 64, 48, 2, 0.9),
    _case("noise", 200, 300, 3, 0.5),
]


def _list_counts(a: np.ndarray[Any, Any]) -> list[int]:
    """COCO's uncompressed counts, written out from the column-major pixels."""
    flat = a.flatten(order="F")
    counts: list[int] = []
    current, run = 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return counts


@pytest.mark.parametrize("pixels", MASKS)
def test_compressed_rle_decodes_like_pycocotools(pixels: np.ndarray[Any, Any]) -> None:
    rle = coco_mask.encode(np.asfortranarray(pixels))
    ours = np.asarray(rle_mask({"size": rle["size"], "counts": rle["counts"].decode()})) // 255
    assert ours.shape == pixels.shape
    assert (ours == coco_mask.decode(rle)).all()
    assert (ours == pixels).all()


@pytest.mark.parametrize("pixels", MASKS)
def test_uncompressed_rle_decodes_like_pycocotools(pixels: np.ndarray[Any, Any]) -> None:
    h, w = pixels.shape
    rle = {"size": [h, w], "counts": _list_counts(pixels)}
    reference = coco_mask.decode(coco_mask.frPyObjects(rle, h, w))
    ours = np.asarray(rle_mask(rle)) // 255
    assert (ours == reference).all()


@pytest.mark.parametrize("pixels", MASKS)
def test_counts_string_matches_pycocotools_counts(pixels: np.ndarray[Any, Any]) -> None:
    rle = coco_mask.encode(np.asfortranarray(pixels))
    assert decode_rle_counts(rle["counts"]) == _list_counts(pixels)


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        pytest.param({"size": [2, 2], "counts": [1, 2]}, "cover 3 of", id="too-few-pixels"),
        pytest.param({"size": [2, 2], "counts": [1, 9]}, "more than", id="too-many-pixels"),
        pytest.param({"size": [2, 2], "counts": [2, -1, 3]}, "negative", id="negative-run"),
        pytest.param({"size": [2], "counts": [4]}, "height, width", id="bad-size"),
        pytest.param({"size": [2, 2], "counts": "0{"}, "invalid character", id="bad-char"),
        pytest.param({"size": [2, 2], "counts": "0P"}, "middle of a number", id="truncated"),
        pytest.param({"size": [2, 2], "counts": 4}, "string or a list", id="bad-counts"),
    ],
)
def test_bad_rle_is_an_error(rle: dict[str, Any], message: str) -> None:
    with pytest.raises(MaskError, match=message):
        rle_mask(rle)

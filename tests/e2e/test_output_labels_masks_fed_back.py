"""An ``--output-labels`` file with masks, fed back in (issue 12, part 6).

``--output-labels`` writes each bitmap beside the labels file and names it by
path (there is no asset url offline). Uploaded as it was, that label pointed
at a file on the uploader's machine, and the run said everything went well.
Now the local PNG goes up as an asset first, the same way a mask row's bitmap
does, and the label names the asset's url.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

if str(Path(__file__).parent.parent / "masks") not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent.parent / "masks"))
    sys.path.insert(0, str(Path(__file__).parent.parent / "formats"))

from formatskit import running_env
from tests.masks.conftest import MasksEnv, manifest

ASSETS = "/assets/"


@pytest.fixture
def menv(tmp_path: Path) -> Iterator[MasksEnv]:
    with running_env(MasksEnv, manifest(), tmp_path) as env:
        yield env


def _convert(menv: MasksEnv) -> tuple[Path, bytes]:
    """Rows with a mask → ``conv/out.jsonl`` (and its bitmap); the labels file and the PNG."""
    pixels = np.zeros((24, 32), np.uint8)
    pixels[2:10, 3:15] = 2
    pixels[12:20, 16:30] = 9
    Image.fromarray(pixels, "L").save(menv.tmp / "m.png")
    row = {
        "sample_name": "a.png",
        "mask_path": "m.png",
        "annotations": [{"id": 2, "category": "car"}, {"id": 9, "category": "road"}],
    }
    (menv.tmp / "conv").mkdir()
    res = menv.run(menv.write_rows([row]), "--output-labels", "conv/out.jsonl")
    assert res.code == 0, res.stderr
    out = menv.tmp / "conv" / "out.jsonl"
    (label,) = [json.loads(line) for line in out.read_text().splitlines()]
    url = label["attributes"]["segmentation_bitmap"]["url"]
    # Relative to the labels file: the pair can be moved together.
    assert url.startswith("out.jsonl.masks/"), url
    return out, (out.parent / url).read_bytes()


def test_masks_of_output_labels_upload_as_assets(menv: MasksEnv) -> None:
    out, png = _convert(menv)
    before = menv.sandbox.stats()["requests"].get("POST", {}).get(ASSETS, {})
    assert not before
    res = menv.run(out)
    assert res.code == 0, res.stderr
    label = menv.label("a.png")
    assert label is not None
    served = label["attributes"]["segmentation_bitmap"]["url"]
    assert served.startswith(("http://", "https://")), served
    assert "out.jsonl.masks" not in served
    r = httpx.get(served)
    r.raise_for_status()
    assert r.content == png
    assert sum(menv.sandbox.stats()["requests"]["POST"][ASSETS].values()) == 1
    # A rerun skips it like any unchanged mask (the journal hashed the content).
    res = menv.run(out)
    assert res.code == 0, res.stderr
    assert res.report()["skipped_by_reason"] == {"already uploaded": 1}


def test_a_missing_or_broken_mask_file_fails_its_row(menv: MasksEnv) -> None:
    out, _ = _convert(menv)
    (label,) = [json.loads(line) for line in out.read_text().splitlines()]
    broken = out.parent / "broken.png"
    broken.write_bytes(b"not a png")
    base = {k: v for k, v in label.items() if k != "sample_uuid"}
    rows = [
        {
            **base,
            "sample_name": name,
            "attributes": {**label["attributes"], "segmentation_bitmap": {"url": url}},
        }
        for name, url in (("a.png", "gone.png"), ("b.png", str(broken)))
    ]
    src = out.parent / "edited.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = menv.run(src)
    assert res.code == 1, res.stderr
    report = res.report()
    assert report["failed_by_reason"] == {"mask file": 2}
    gone, bad = report["failure_examples"]["mask file"]
    for example in (gone, bad):
        assert "attributes.segmentation_bitmap.url" in example
    assert "edited.jsonl:1 a.png" in gone
    assert "cannot read it" in gone
    assert "edited.jsonl:2 b.png" in bad
    assert "not a PNG" in bad
    assert menv.label("a.png") is None
    assert menv.label("b.png") is None
    assert not menv.sandbox.stats()["requests"].get("PUT")

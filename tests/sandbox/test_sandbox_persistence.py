"""Persistence: a sandbox stopped and restarted on the same SQLite file has lost nothing,
and reseeding from the manifest neither duplicates nor overwrites what is there.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from sandboxkit import DEMO_DS, KEY, both_manifests
from segments import SegmentsClient

from upload_preds.sandbox import ManifestError, start_sandbox

ATTRS = {
    "format_version": "0.1",
    "annotations": [{"id": 1, "category_id": 4, "type": "bbox", "points": [[1, 1], [2, 2]]}],
}


def test_restart_on_same_db_keeps_everything(tmp_path: Path) -> None:
    db = tmp_path / "state" / "sandbox.sqlite3"
    manifest = both_manifests()
    with start_sandbox(data=manifest, db=db, api_key=KEY) as sb:
        c = SegmentsClient(KEY, api_url=sb.url)
        c.add_labelset(DEMO_DS, "model-a", "first model")
        sample = c.add_sample(DEMO_DS, "late.jpg", {"image": {"url": "https://example.com/l"}})
        label = c.add_label(sample.uuid, "model-a", ATTRS, score=0.4)
        # A seeded human label, changed through the API: reseeding must keep the change.
        gt_uuid = manifest["datasets"][0]["samples"][0]["uuid"]
        c.update_label(gt_uuid, "ground-truth", label_status="REJECTED")
        asset = c.upload_asset(io.BytesIO(b"mask bytes"), "m.png")
        stats_before = sb.stats()["labels"]
        c.close()
    assert db.is_file()
    with start_sandbox(data=manifest, db=db, api_key=KEY) as sb:
        c = SegmentsClient(KEY, api_url=sb.url)
        assert [ls.name for ls in c.get_labelsets(DEMO_DS)][-1] == "model-a"
        again = c.get_label(sample.uuid, "model-a")
        assert (again.created_at, again.updated_at, again.score) == (
            label.created_at,
            label.updated_at,
            0.4,
        )
        assert c.get_label(gt_uuid, "ground-truth").label_status == "REJECTED"
        assert c.get_dataset(DEMO_DS).label_stats.TOTAL == 25  # 24 seeded + 1, no duplicates
        # The asset URL carries the old port; the stored file is served on the new one.
        new_url = sb.url + asset.url.split("/", 3)[3]
        assert requests.get(new_url, timeout=10).content == b"mask bytes"
        assert sb.stats()["labels"] == stats_before
        c.close()


def test_an_answered_write_is_already_committed(tmp_path: Path) -> None:
    """Group commit: the answer to a PUT leaves only after its COMMIT, so another
    connection to the database file sees the label the moment the client has the answer."""
    db = tmp_path / "s.sqlite3"
    manifest = both_manifests()
    uuids = [s["uuid"] for s in manifest["datasets"][0]["samples"]]
    with start_sandbox(data=manifest, db=db, api_key=KEY) as sb:
        reader = sqlite3.connect(db)
        try:
            with httpx.Client(base_url=sb.url, headers={"Authorization": f"APIKey {KEY}"}) as h:
                for i, sample_uuid in enumerate(uuids):
                    body = {"attributes": ATTRS, "label_status": "PRELABELED", "score": i / 100}
                    r = h.put(f"labels/{sample_uuid}/ground-truth/", json=body)
                    assert r.status_code in (200, 201), r.text
                    row = reader.execute(
                        "SELECT score FROM labels WHERE sample_uuid = ? AND labelset = ?",
                        (sample_uuid, "ground-truth"),
                    ).fetchone()
                    assert row == (i / 100,)
        finally:
            reader.close()


def test_reseed_adds_only_what_is_missing(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    manifest: dict[str, Any] = both_manifests()
    with start_sandbox(data=manifest, db=db, api_key=KEY):
        pass
    samples = manifest["datasets"][0]["samples"]
    samples.append({"name": "added-later.jpg", "attributes": {"image": {"url": "x"}}})
    # Same sample as before under a changed label: the stored one wins.
    samples[0]["labels"]["ground-truth"]["label_status"] = "VERIFIED"
    with start_sandbox(data=manifest, db=db, api_key=KEY) as sb:
        r = httpx.get(
            f"{sb.url}datasets/{DEMO_DS}/samples/?labelset=ground-truth&per_page=100",
            headers={"Authorization": f"APIKey {KEY}"},
            timeout=10,
        )
        by_name = {s["name"]: s for s in r.json()}
        assert len(by_name) == 25
        assert by_name["img_0001.jpg"]["label"]["label_status"] == "LABELED"
        assert by_name["added-later.jpg"]["label"]["label_status"] == "UNLABELED"


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        pytest.param(
            lambda m: m["datasets"][0].update(task_type="video"), "task_type", id="task-type"
        ),
        pytest.param(
            lambda m: m["datasets"][0]["samples"][0]["labels"]["ground-truth"]["attributes"][
                "annotations"
            ][0].update(category_id=42),
            "datasets[0].samples[0].labels.ground-truth.attributes",
            id="label-category",
        ),
        pytest.param(
            lambda m: m["datasets"][0]["samples"].append(m["datasets"][0]["samples"][0]),
            "appears twice",
            id="duplicate-sample",
        ),
        pytest.param(
            lambda m: m["datasets"][0]["samples"][1]["labels"].update(nope={}),
            "not declared",
            id="undeclared-labelset",
        ),
        pytest.param(lambda m: m.pop("datasets"), "top level", id="no-datasets"),
    ],
)
def test_bad_manifest_is_refused_before_anything_is_written(
    tmp_path: Path, mutate: Any, fragment: str
) -> None:
    manifest = both_manifests()
    mutate(manifest)
    db = tmp_path / "never.sqlite3"
    with pytest.raises(ManifestError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        start_sandbox(data=manifest, db=db, api_key=KEY)
    assert not db.exists()

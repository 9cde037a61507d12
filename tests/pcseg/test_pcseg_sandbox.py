"""Point label files uploaded through the real CLI into the sandbox, read back with the SDK.

The sandbox holds a ``pointcloud-segmentation`` dataset whose samples carry
their point counts (``metadata.point_count``, where the sandbox reads them).
Generated SemanticKITTI scans go up as ``.label`` files; the official SDK's
client reads each label back, and the instance and class counts it reports
equal those of the file. Bad files fail their own row only (exit 1), and a
file whose length is not the cloud's point count fails with both numbers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pcsegkit
import pytest
from pcsegkit import CATEGORIES, CATEGORY_IDS, CLASS_MAP, check_label, make_scan, write_label
from segments import SegmentsClient

from clikit import write_jsonl
from upload_preds.sandbox import SandboxHandle, start_sandbox

KEY = "sk-test-pcseg"
NAMES = ["s0.bin", "s1.bin", "s2.bin", "s3.bin", "s4.bin"]
POINTS = 1200


def sample_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pcseg/{name}"))


def manifest() -> dict[str, Any]:
    return {
        "datasets": [
            {
                "owner": "test",
                "name": "scans",
                "task_type": "pointcloud-segmentation",
                "task_attributes": {"format_version": "0.1", "categories": CATEGORIES},
                "labelsets": [{"name": "ground-truth", "description": ""}],
                "samples": [
                    {
                        "uuid": sample_uuid(n),
                        "name": n,
                        "attributes": {
                            "pcd": {"url": f"https://example.invalid/{n}", "type": "kitti"}
                        },
                        "metadata": {"point_count": POINTS},
                        "labels": {},
                    }
                    for n in NAMES
                ],
            }
        ]
    }


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with start_sandbox(data=manifest(), db=tmp_path / "sandbox.db", api_key=KEY) as sb:
        yield sb


def upload(sb: SandboxHandle, tmp: Path, *extra: str) -> tuple[int, str]:
    return pcsegkit.upload(sb.url, KEY, tmp, "test/scans", "--category-map", "map.json", *extra)


def test_scans_round_trip_through_the_sandbox_and_the_sdk(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    scans = {n: make_scan(seed=i) for i, n in enumerate(NAMES[:3])}
    rows = []
    for n, raw in scans.items():
        write_label(tmp_path / "preds" / f"{n}.label", raw)
        rows.append({"sample_name": n, "point_labels_path": f"preds/{n}.label"})
    write_jsonl(tmp_path / "rows.jsonl", rows)
    code, stderr = upload(sandbox, tmp_path)
    assert code == 0, stderr
    with SegmentsClient(KEY, api_url=sandbox.url) as sdk:
        for n, raw in scans.items():
            label = sdk.get_label(sample_uuid(n), "ground-truth")
            assert label.label_status == "PRELABELED"
            attrs = label.attributes.model_dump(mode="json", exclude_unset=True)
            check_label(attrs, raw)
            # Instance and class counts read back equal those of the file.
            mapped = raw[np.isin(raw & 0xFFFF, [int(k) for k, v in CLASS_MAP.items() if v])]
            assert len(label.attributes.annotations) == len(set(mapped.tolist()))
            file_classes = {CLASS_MAP[str(c)] for c in set((mapped & 0xFFFF).tolist())}
            names = {c["id"]: c["name"] for c in CATEGORIES}
            assert {names[a.category_id] for a in label.attributes.annotations} == file_classes
            assert len(label.attributes.point_annotations) == POINTS
    # A rerun sends nothing again: the journal knows the labels.
    code, stderr = upload(sandbox, tmp_path)
    assert code == 0, stderr
    assert "labels uploaded  0" in stderr


def test_bad_files_fail_their_row_and_the_others_upload(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    good = make_scan(seed=1)
    write_label(tmp_path / "s0.label", good)
    write_label(tmp_path / "s1.label", make_scan(seed=2)[:1100])  # not the cloud's 1,200 points
    (tmp_path / "s2.label").write_bytes(good.tobytes()[:-1])  # not a multiple of 4
    write_label(tmp_path / "s3.label", np.where(good == 40, 77, good).astype(np.uint32))
    write_label(tmp_path / "s4.label", make_scan(seed=4))
    write_jsonl(
        tmp_path / "rows.jsonl",
        [{"sample_name": n, "point_labels_path": f"{n.removesuffix('.bin')}.label"} for n in NAMES],
    )
    code, stderr = upload(sandbox, tmp_path)
    assert code == 1, stderr
    with SegmentsClient(KEY, api_url=sandbox.url) as sdk:
        check_label(
            sdk.get_label(sample_uuid("s0.bin"), "ground-truth").attributes.model_dump(
                mode="json", exclude_unset=True
            ),
            good,
        )
        assert sdk.get_label(sample_uuid("s4.bin"), "ground-truth").attributes is not None
    failed = {
        f["sample_name"]: f["_error"]
        for f in map(json.loads, (tmp_path / "failed.jsonl").read_text().splitlines())
    }
    assert set(failed) == {"s1.bin", "s2.bin", "s3.bin"}
    # Checked before sending, against the sample's metadata.point_count: file and line.
    assert failed["s1.bin"] == (
        "point_labels_path: s1.label has 1,100 ids but the point cloud has 1,200 points "
        "(the sample's metadata.point_count); give one id per point, in the point cloud's order"
    )
    assert "rows.jsonl:2" in stderr
    assert "not a multiple of 4" in failed["s2.bin"]
    assert "77 (400 points)" in failed["s3.bin"]


def test_instance_ids_in_npy_upload(sandbox: SandboxHandle, tmp_path: Path) -> None:
    inst = np.zeros(POINTS, dtype=np.int32)
    inst[:100] = 5
    inst[100:700] = 9
    np.save(tmp_path / "s0.npy", inst)
    write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {
                "sample_name": "s0.bin",
                "point_labels_path": "s0.npy",
                "annotations": [{"id": 5, "category": "person"}, {"id": 9, "category": "road"}],
            }
        ],
    )
    code, stderr = upload(sandbox, tmp_path)
    assert code == 0, stderr
    with SegmentsClient(KEY, api_url=sandbox.url) as sdk:
        attrs = sdk.get_label(sample_uuid("s0.bin"), "ground-truth").attributes
    assert attrs.point_annotations == inst.tolist()
    assert [(a.id, a.category_id) for a in attrs.annotations] == [
        (5, CATEGORY_IDS["person"]),
        (9, CATEGORY_IDS["road"]),
    ]

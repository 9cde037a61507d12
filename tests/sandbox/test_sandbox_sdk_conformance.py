"""The official segments-ai SDK (1.33.0) as the client: every call the uploader's world
relies on works against the sandbox, with the SDK's strict response validation on.

Each test starts from a fresh in-memory sandbox with the demo dataset
(vector) and a small segmentation dataset; the sequence, point-cloud and
multi-sensor test starts one with a dataset of each of those task types.
"""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandboxkit import DEMO_DS, KEY, SEG_DS
from segments import SegmentsClient
from segments.exceptions import (
    AlreadyExistsError,
    AuthenticationError,
    NetworkError,
    NotFoundError,
)
from segments.typing import (
    ImageSequenceSampleAttributes,
    Label,
    LabelSummary,
    MultiSensorSampleAttributes,
    PointcloudSampleAttributes,
    PointcloudSequenceSampleAttributes,
)
from sequencekit import DATASETS, good_label, write_manifest

from upload_preds.sandbox import SandboxHandle, start_sandbox

BBOX_LABEL: dict[str, Any] = {
    "format_version": "0.1",
    "annotations": [
        {
            "id": 1,
            "category_id": 2,
            "type": "bbox",
            "points": [[10.0, 20.0], [110.0, 80.0]],
            "attributes": {"occluded": True, "confidence": 0.75},
        }
    ],
    "image_attributes": {"weather": "rain", "night": False},
}


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[SegmentsClient]:
    with SegmentsClient(sandbox.api_key, api_url=sandbox.url) as c:
        # Strict checking is the SDK's default; say so, so a change there shows up here.
        assert c._strict_checking is True
        yield c


def tiny_png() -> bytes:
    """A 1x1 RGBA PNG whose pixel is instance 1 (R=1, alpha 255)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x01\x00\x00\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_get_dataset_has_task_type_categories_and_labelsets(client: SegmentsClient) -> None:
    ds = client.get_dataset(DEMO_DS)
    assert ds.full_name == DEMO_DS
    assert ds.task_type == "vector"
    assert ds.task_attributes is not None
    assert ds.task_attributes.categories is not None
    assert [c.name for c in ds.task_attributes.categories][:3] == ["car", "truck", "pedestrian"]
    assert ds.labelsets is not None
    assert {ls.name for ls in ds.labelsets} == {"ground-truth", "predictions"}
    # The demo manifest has 24 samples, 5 of them with a ground-truth label.
    assert ds.label_stats.TOTAL == 24
    assert ds.label_stats.UNLABELED == 19


def test_labelsets_list_add_and_duplicate(client: SegmentsClient) -> None:
    before = client.get_labelsets(DEMO_DS)
    assert [ls.name for ls in before] == ["ground-truth", "predictions"]
    assert [ls.is_groundtruth for ls in before] == [True, False]
    added = client.add_labelset(DEMO_DS, "resnet-50", "a model")
    assert (added.name, added.description, added.is_groundtruth) == ("resnet-50", "a model", False)
    assert client.get_labelset(DEMO_DS, "resnet-50").description == "a model"
    with pytest.raises(AlreadyExistsError):
        client.add_labelset(DEMO_DS, "resnet-50")
    assert [ls.name for ls in client.get_labelsets(DEMO_DS)] == [
        "ground-truth",
        "predictions",
        "resnet-50",
    ]


def test_get_samples_pages_until_invalid_page(client: SegmentsClient) -> None:
    names: list[str] = []
    for page in range(1, 6):  # 24 samples: pages 1-5, the last one short
        batch = client.get_samples(DEMO_DS, per_page=5, page=page)
        assert len(batch) == (4 if page == 5 else 5)
        names += [s.name for s in batch]
    with pytest.raises(NotFoundError, match=r"(?i)invalid page"):
        client.get_samples(DEMO_DS, per_page=5, page=6)
    assert names == sorted(names)
    assert len(names) == len(set(names)) == 24


@pytest.mark.parametrize(
    ("kwargs", "expected_names"),
    [
        pytest.param({"name": "img_001"}, [f"img_{i:04d}.jpg" for i in range(10, 20)], id="name"),
        pytest.param(
            {"labelset": "ground-truth", "label_status": ["LABELED", "REVIEWED"]},
            ["img_0001.jpg", "img_0002.jpg", "img_0003.jpg"],
            id="label-status-list",
        ),
        pytest.param(
            {"labelset": "ground-truth", "label_status": "PRELABELED"},
            ["img_0005.jpg"],
            id="label-status-one",
        ),
        pytest.param(
            {"labelset": "ground-truth", "label_status": ["UNLABELED"], "name": "img_000"},
            [f"img_{i:04d}.jpg" for i in range(6, 10)],
            id="unlabeled-pseudo-status",
        ),
        pytest.param(
            {"sort": "name", "direction": "desc", "per_page": 2},
            ["img_0024.jpg", "img_0023.jpg"],
            id="sort-desc",
        ),
        pytest.param(
            {"metadata": "sequence:3", "per_page": 3},
            ["img_0017.jpg", "img_0018.jpg", "img_0019.jpg"],
            id="metadata-filter",
        ),
    ],
)
def test_get_samples_filters(
    client: SegmentsClient, kwargs: dict[str, Any], expected_names: list[str]
) -> None:
    assert [s.name for s in client.get_samples(DEMO_DS, **kwargs)] == expected_names


def test_get_samples_label_summary_and_full_label(client: SegmentsClient) -> None:
    summaries = client.get_samples(DEMO_DS, labelset="ground-truth", per_page=6)
    assert all(isinstance(s.label, LabelSummary) for s in summaries)
    statuses = [s.label.label_status for s in summaries if s.label is not None]
    assert statuses == [
        "LABELED",
        "LABELED",
        "REVIEWED",
        "LABELING_IN_PROGRESS",
        "PRELABELED",
        "UNLABELED",
    ]
    full = client.get_samples(DEMO_DS, labelset="ground-truth", per_page=2, include_full_label=True)
    assert all(isinstance(s.label, Label) for s in full)
    first = full[0].label
    assert isinstance(first, Label)
    assert first.labelset == "ground-truth"
    assert first.label_type == "vector"
    assert first.attributes is not None
    assert len(first.attributes.annotations) == 2
    # Without a label set the samples carry no label at all.
    assert all(s.label is None for s in client.get_samples(DEMO_DS, per_page=3))


def test_get_sample_and_add_sample(client: SegmentsClient, demo_samples: list[Any]) -> None:
    first = client.get_sample(demo_samples[0]["uuid"])
    assert first.name == "img_0001.jpg"
    assert first.dataset_full_name == DEMO_DS
    assert first.metadata == {"camera": "front", "sequence": 1}
    added = client.add_sample(
        DEMO_DS, "extra.jpg", {"image": {"url": "https://example.com/x.jpg"}}, {"k": 1}, 2.5
    )
    assert (added.name, added.priority, added.metadata) == ("extra.jpg", 2.5, {"k": 1})
    assert client.get_sample(added.uuid).name == "extra.jpg"
    with pytest.raises(AlreadyExistsError):
        client.add_sample(DEMO_DS, "extra.jpg", {"image": {"url": "https://example.com/x.jpg"}})
    bulk = client.add_samples(
        DEMO_DS,
        [
            {"name": "extra.jpg", "attributes": {"image": {"url": "ignored"}}},
            {"name": "bulk.jpg", "attributes": {"image": {"url": "https://example.com/b.jpg"}}},
        ],
    )
    # An existing sample comes back unchanged; the new one is created.
    assert [(s.name, s.uuid == added.uuid) for s in bulk] == [
        ("extra.jpg", True),
        ("bulk.jpg", False),
    ]


def test_label_lifecycle_add_get_update_delete(
    client: SegmentsClient, demo_samples: list[Any]
) -> None:
    sample_uuid = demo_samples[10]["uuid"]
    added = client.add_label(sample_uuid, "predictions", BBOX_LABEL, score=0.91)  # gzip body
    assert (added.label_status, added.score, added.labelset) == ("PRELABELED", 0.91, "predictions")
    assert added.created_at == added.updated_at
    got = client.get_label(sample_uuid, "predictions")
    assert got.attributes is not None
    assert got.attributes.model_dump(mode="json", exclude_unset=True) == BBOX_LABEL
    updated = client.update_label(sample_uuid, "predictions", label_status="REVIEWED")
    assert updated.label_status == "REVIEWED"
    assert updated.score == 0.91  # PATCH keeps what it was not given
    assert updated.created_at == added.created_at
    assert updated.updated_at > added.updated_at
    client.delete_label(sample_uuid, "predictions")
    with pytest.raises(NotFoundError):
        client.get_label(sample_uuid, "predictions")


def test_add_label_twice_replaces_keeps_created_at(
    client: SegmentsClient, demo_samples: list[Any]
) -> None:
    sample_uuid = demo_samples[11]["uuid"]
    first = client.add_label(sample_uuid, "predictions", BBOX_LABEL, score=0.5)
    second = client.add_label(
        sample_uuid, "predictions", {"format_version": "0.1", "annotations": []}, score=0.6
    )
    assert second.created_at == first.created_at
    assert second.score == 0.6
    assert second.attributes is not None
    assert second.attributes.annotations == []


def test_upload_asset_then_segmentation_label(client: SegmentsClient) -> None:
    png = tiny_png()
    asset = client.upload_asset(io.BytesIO(png), "mask.png")
    assert asset.filename == "mask.png"
    # The storage URL serves the file back without any key, like the platform's S3 URLs.
    served = requests.get(asset.url, timeout=10)
    assert served.status_code == 200
    assert served.content == png
    assert served.headers["Content-Type"] == "image/png"
    sample = client.get_samples(SEG_DS, per_page=1)[0]
    attrs = {
        "format_version": "0.1",
        "annotations": [{"id": 1, "category_id": 1, "attributes": {"wet": True}}],
        "segmentation_bitmap": {"url": asset.url},
    }
    label = client.add_label(sample.uuid, "model", attrs, score=0.8)
    assert label.label_type == "segmentation-bitmap"
    got = client.get_label(sample.uuid, "model")
    assert got.attributes is not None
    assert got.attributes.segmentation_bitmap.url == asset.url


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("/tmp/mask.png", id="absolute-path"),
        pytest.param("file:///tmp/mask.png", id="file-url"),
        pytest.param("masks/mask.png", id="relative-path"),
        pytest.param("ftp://example.com/mask.png", id="other-scheme"),
        pytest.param("https:///mask.png", id="no-host"),
    ],
)
def test_a_mask_url_that_is_not_an_asset_is_refused(
    client: SegmentsClient, sandbox: SandboxHandle, url: str
) -> None:
    """A label naming a local file (what --output-labels writes) gets a field-keyed 400."""
    sample = client.get_samples(SEG_DS, per_page=1)[0]
    attrs = {
        "format_version": "0.1",
        "annotations": [{"id": 1, "category_id": 1}],
        "segmentation_bitmap": {"url": url},
    }
    with pytest.raises(NetworkError) as info:  # the SDK's name for any 4xx it does not know
        client.add_label(sample.uuid, "model", attrs)
    assert "400 client error" in repr(info.value).lower()
    assert "is not an asset url" in str(info.value).lower()  # the SDK lowercases the body
    # The same body over plain HTTP: the error is keyed by field, names the url.
    r = requests.put(
        f"{sandbox.url}labels/{sample.uuid}/model/",
        json={"attributes": attrs},
        headers={"Authorization": f"APIKey {KEY}"},
        timeout=10,
    )
    assert r.status_code == 400
    (message,) = r.json()["attributes"]
    assert message.startswith(f"segmentation_bitmap.url: {url!r} is not an asset URL")
    assert (
        requests.get(
            f"{sandbox.url}labels/{sample.uuid}/model/",
            headers={"Authorization": f"APIKey {KEY}"},
            timeout=10,
        ).status_code
        == 404
    )


def test_wrong_key_fails_at_construction(sandbox: SandboxHandle) -> None:
    with pytest.raises(AuthenticationError):
        SegmentsClient(KEY + "-wrong", api_url=sandbox.url)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.get_sample(str(uuid.uuid4())), id="get_sample"),
        pytest.param(lambda c: c.get_label(str(uuid.uuid4()), "ground-truth"), id="get_label"),
        pytest.param(
            lambda c: c.add_label(str(uuid.uuid4()), "ground-truth", BBOX_LABEL), id="add_label"
        ),
        pytest.param(lambda c: c.get_dataset("demo/nope"), id="get_dataset"),
        pytest.param(lambda c: c.get_labelset(DEMO_DS, "nope"), id="get_labelset"),
    ],
)
def test_unknown_objects_are_not_found(client: SegmentsClient, call: Any) -> None:
    with pytest.raises(NotFoundError):
        call(client)


SAMPLE_MODELS: dict[str, type[Any]] = {
    "image-vector-sequence": ImageSequenceSampleAttributes,
    "image-segmentation-sequence": ImageSequenceSampleAttributes,
    "pointcloud-cuboid-sequence": PointcloudSequenceSampleAttributes,
    "pointcloud-vector": PointcloudSampleAttributes,
    "pointcloud-vector-sequence": PointcloudSequenceSampleAttributes,
    "pointcloud-segmentation": PointcloudSampleAttributes,
    "pointcloud-segmentation-sequence": PointcloudSequenceSampleAttributes,
    "multisensor-sequence": MultiSensorSampleAttributes,
}


def test_sequence_point_cloud_and_multisensor_datasets_through_the_sdk(tmp_path: Any) -> None:
    with (
        start_sandbox(data=write_manifest(tmp_path), api_key=KEY) as sb,
        SegmentsClient(KEY, api_url=sb.url) as c,
    ):
        for name, task_type in DATASETS.items():
            full = f"seq/{name}"
            assert c.get_dataset(full).task_type == task_type
            samples = c.get_samples(full)
            assert [s.name for s in samples] == [f"{name}_0", f"{name}_1"]
            # The SDK reads each sample's attributes as its task type's sample model.
            assert all(isinstance(s.attributes, SAMPLE_MODELS[task_type]) for s in samples)
            body = good_label(task_type)
            c.add_label(samples[1].uuid, "predictions", body, score=0.25)
            listed = c.get_samples(full, labelset="predictions", include_full_label=True)
            label = listed[1].label
            assert isinstance(label, Label)
            assert label.attributes is not None
            assert label.attributes.model_dump(mode="json", exclude_unset=True) == body
            assert (label.label_type, label.score) == (task_type, 0.25)
            assert listed[0].label is None or listed[0].label.label_status == "UNLABELED"

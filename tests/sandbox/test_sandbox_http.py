"""The sandbox over plain HTTP: keys, status codes, error bodies, label validation, gzip
bodies and the stats endpoint, as a client other than the SDK sees them.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandboxkit import DEMO_DS, KEY, SEG_DS, both_manifests

from upload_preds.sandbox import SandboxHandle, start_sandbox

GOOD_VECTOR: dict[str, Any] = {
    "format_version": "0.1",
    "annotations": [
        {
            "id": 1,
            "category_id": 1,
            "type": "bbox",
            "points": [[1, 2], [30, 40]],
            "attributes": {"confidence": 0.5},
        },
        {"id": 2, "category_id": 7, "type": "polyline", "points": [[0, 0], [5, 5], [9, 1]]},
        {"id": 3, "category_id": 5, "type": "point", "points": [[3.5, 4.5]]},
        {"id": 4, "category_id": 8, "type": "polygon", "points": [[0, 0], [9, 0], [9, 9]]},
    ],
    "image_attributes": {"weather": "fog", "night": True},
}


@pytest.fixture
def http(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sandbox.url, headers={"Authorization": f"APIKey {KEY}"}, timeout=10
    ) as c:
        yield c


def vec(**changes: Any) -> dict[str, Any]:
    """GOOD_VECTOR with the first annotation changed (a key set to None is removed)."""
    attrs = json.loads(json.dumps(GOOD_VECTOR))
    for k, v in changes.items():
        if v is None:
            attrs["annotations"][0].pop(k)
        else:
            attrs["annotations"][0][k] = v
    return attrs


@pytest.mark.parametrize(
    ("path", "method"),
    [
        pytest.param("api_status/?lib_version=1.33.0", "GET", id="api-status"),
        pytest.param(f"datasets/{DEMO_DS}/", "GET", id="dataset"),
        pytest.param(f"datasets/{DEMO_DS}/samples/", "GET", id="samples"),
        pytest.param("labels/00000000-0000-0000-0000-000000000000/ground-truth/", "PUT", id="put"),
        pytest.param("_sandbox/stats", "GET", id="stats"),
        pytest.param("no/such/route/", "GET", id="unknown-route"),
    ],
)
@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(None, id="no-header"),
        pytest.param(f"APIKey {KEY}x", id="wrong-key"),
        pytest.param(f"Bearer {KEY}", id="wrong-scheme"),
        pytest.param(f"apikey {KEY}", id="scheme-case"),
    ],
)
def test_every_api_route_needs_the_key(
    sandbox: SandboxHandle, path: str, method: str, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    r = httpx.request(method, sandbox.url + path, headers=headers, json={}, timeout=10)
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid token."}


def test_unknown_route_and_method(http: httpx.Client) -> None:
    r = http.get("no/such/route/")
    assert (r.status_code, r.json()) == (404, {"detail": "Not found."})
    r = http.post("api_status/")
    assert r.status_code == 405
    assert r.json() == {"detail": 'Method "POST" not allowed.'}


@pytest.mark.parametrize(
    ("query", "status", "body_key"),
    [
        pytest.param("page=7&per_page=4", 404, "detail", id="page-past-end"),
        pytest.param("page=0", 404, "detail", id="page-zero"),
        pytest.param("page=x", 404, "detail", id="page-not-int"),
        pytest.param("per_page=0", 400, "per_page", id="per-page-zero"),
        pytest.param("labelset=ground-truth&label_status=DONE", 400, "label_status", id="status"),
        pytest.param("sort=size", 400, "sort", id="sort"),
        pytest.param("labelset=nope", 404, "detail", id="unknown-labelset"),
        pytest.param("filters=camera", 400, "filters", id="filter-without-colon"),
    ],
)
def test_samples_query_errors(http: httpx.Client, query: str, status: int, body_key: str) -> None:
    r = http.get(f"datasets/{DEMO_DS}/samples/?{query}")
    assert r.status_code == status
    assert body_key in r.json()
    if query.startswith("page="):
        assert r.json() == {"detail": "Invalid page."}


def test_samples_last_full_page_then_invalid(http: httpx.Client) -> None:
    # 24 samples in pages of 8: page 3 is full, page 4 is past the end.
    r = http.get(f"datasets/{DEMO_DS}/samples/?per_page=8&page=3")
    assert r.status_code == 200
    assert len(r.json()) == 8
    assert http.get(f"datasets/{DEMO_DS}/samples/?per_page=8&page=4").status_code == 404
    # An empty result is a valid (empty) page 1, not a 404.
    r = http.get(f"datasets/{DEMO_DS}/samples/?name__contains=nothing-like-this")
    assert (r.status_code, r.json()) == (200, [])


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        pytest.param({"attributes": vec(category_id=99)}, "attributes", "category_id", id="cat"),
        pytest.param({"attributes": vec(type="circle")}, "attributes", "type", id="ann-type"),
        pytest.param(
            {"attributes": vec(points=[[1, 2], [3, 4], [5, 6]])},
            "attributes",
            "exactly 2",
            id="3pt",
        ),
        pytest.param(
            {"attributes": vec(points=[[30, 40], [1, 2]])}, "attributes", "upper-left", id="flip"
        ),
        pytest.param(
            {"attributes": vec(points=[[1, "2"], [3, 4]])}, "attributes", "points[0]", id="str"
        ),
        pytest.param({"attributes": vec(id=None)}, "attributes", ".id", id="no-id"),
        pytest.param(
            {"attributes": vec(confidence=0.9)},
            "attributes",
            "annotation's 'attributes'",
            id="conf",
        ),
        pytest.param(
            {"attributes": vec(attributes={"confidence": 1.5})}, "attributes", "outside", id="range"
        ),
        pytest.param(
            {"attributes": vec(attributes={"colour": "red"})}, "attributes", "declares", id="undecl"
        ),
        pytest.param(
            {"attributes": {**GOOD_VECTOR, "image_attributes": {"weather": "snow"}}},
            "attributes",
            "weather",
            id="image-attr-select",
        ),
        pytest.param(
            {"attributes": {**GOOD_VECTOR, "format_version": "0.2"}},
            "attributes",
            "format_version",
            id="format-version",
        ),
        pytest.param(
            {"attributes": {"format_version": "0.1"}}, "attributes", "annotations", id="no-anns"
        ),
        pytest.param({"label_status": "PRELABELED"}, "attributes", "required", id="no-attributes"),
        pytest.param(
            {"attributes": GOOD_VECTOR, "label_status": "DONE"}, "label_status", "DONE", id="status"
        ),
        pytest.param(
            {"attributes": GOOD_VECTOR, "label_status": "UNLABELED"},
            "label_status",
            "delete",
            id="unlabeled",
        ),
        pytest.param({"attributes": GOOD_VECTOR, "score": "high"}, "score", "number", id="score"),
        pytest.param({"attributes": GOOD_VECTOR, "scores": 1}, "scores", "Unknown", id="key"),
        pytest.param([GOOD_VECTOR], "non_field_errors", "dictionary", id="list-body"),
    ],
)
def test_put_label_validation(
    http: httpx.Client,
    demo_samples: list[dict[str, Any]],
    body: Any,
    field: str,
    fragment: str,
) -> None:
    url = f"labels/{demo_samples[20]['uuid']}/predictions/"
    r = http.put(url, json=body)
    assert r.status_code == 400, r.text
    errors = r.json()
    assert field in errors
    assert any(fragment in m for m in errors[field]), errors
    # Nothing was stored.
    assert http.get(url).status_code == 404


def test_put_label_invalid_json(http: httpx.Client, demo_samples: list[dict[str, Any]]) -> None:
    r = http.put(
        f"labels/{demo_samples[0]['uuid']}/predictions/",
        content=b'{"attributes": ',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["detail"].startswith("JSON parse error")


def test_put_creates_then_replaces_and_accepts_gzip(
    http: httpx.Client, demo_samples: list[dict[str, Any]]
) -> None:
    url = f"labels/{demo_samples[21]['uuid']}/predictions/"
    r1 = http.put(url, json={"attributes": GOOD_VECTOR, "score": 0.3})
    assert r1.status_code == 201
    body = {"attributes": vec(category_id=2), "label_status": "LABELED", "score": None}
    r2 = http.put(
        url,
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r2.status_code == 200
    second = r2.json()
    assert second["created_at"] == r1.json()["created_at"]
    assert second["updated_at"] > second["created_at"]
    assert (second["label_status"], second["score"]) == ("LABELED", None)
    assert http.get(url).json()["attributes"]["annotations"][0]["category_id"] == 2


def test_put_label_unknown_labelset_and_sample(
    http: httpx.Client, demo_samples: list[dict[str, Any]]
) -> None:
    r = http.put(f"labels/{demo_samples[0]['uuid']}/nope/", json={"attributes": GOOD_VECTOR})
    assert r.status_code == 404
    assert "nope" in r.json()["detail"]
    r = http.put(
        "labels/00000000-0000-0000-0000-000000000000/ground-truth/",
        json={"attributes": GOOD_VECTOR},
    )
    assert r.status_code == 404


MASK_URL = "https://example.com/masks/m.png"


@pytest.mark.parametrize(
    ("attributes", "ok"),
    [
        pytest.param(
            {
                "annotations": [{"id": 1, "category_id": 2}],
                "segmentation_bitmap": {"url": MASK_URL},
            },
            True,
            id="good",
        ),
        pytest.param({"annotations": [{"id": 1, "category_id": 2}]}, False, id="no-bitmap"),
        pytest.param(
            {
                "annotations": [{"id": 1, "category_id": 2, "type": "bbox"}],
                "segmentation_bitmap": {"url": MASK_URL},
            },
            False,
            id="vector-key",
        ),
        pytest.param(
            {
                "annotations": [{"id": 0, "category_id": 2}],
                "segmentation_bitmap": {"url": MASK_URL},
            },
            False,
            id="instance-zero",
        ),
    ],
)
def test_segmentation_labels(http: httpx.Client, attributes: dict[str, Any], ok: bool) -> None:
    sample = http.get(f"datasets/{SEG_DS}/samples/?per_page=1").json()[0]
    r = http.put(f"labels/{sample['uuid']}/model/", json={"attributes": attributes})
    assert r.status_code == (201 if ok else 400), r.text


def test_storage_needs_no_key_but_checks_the_signature(http: httpx.Client) -> None:
    asset = http.post("assets/", json={"filename": "m.png"}).json()
    post = asset["presignedPostFields"]
    fields = dict(post["fields"])
    forged = {**fields, "x-amz-signature": "0" * 64}
    r = httpx.post(post["url"], data=forged, files={"file": ("m.png", b"x")}, timeout=10)
    assert r.status_code == 403
    assert httpx.get(asset["url"], timeout=10).status_code == 404  # nothing stored
    r = httpx.post(post["url"], data=fields, files={"file": ("m.png", b"png!")}, timeout=10)
    assert r.status_code == 204
    assert httpx.get(asset["url"], timeout=10).content == b"png!"


def test_stats_count_requests_and_labels(
    sandbox: SandboxHandle, http: httpx.Client, demo_samples: list[dict[str, Any]]
) -> None:
    for s in demo_samples[:3]:
        assert http.put(f"labels/{s['uuid']}/predictions/", json={"attributes": GOOD_VECTOR})
    http.put(f"labels/{demo_samples[0]['uuid']}/predictions/", json={"attributes": {}})
    http.get("no/such/route/")
    stats = http.get("_sandbox/stats").json()
    route = "/labels/{sample_uuid}/{labelset}/"
    assert stats["requests"]["PUT"][route] == {"201": 3, "400": 1}
    assert stats["requests"]["GET"]["(no route)"] == {"404": 1}
    assert stats["total_requests"] == 5  # control routes are not counted
    labels = stats["labels"][DEMO_DS]
    assert labels["predictions"] == {"PRELABELED": 3}
    assert labels["ground-truth"] == {
        "LABELED": 2,
        "REVIEWED": 1,
        "LABELING_IN_PROGRESS": 1,
        "PRELABELED": 1,
    }
    assert sandbox.stats()["labels"] == stats["labels"]
    assert http.delete("_sandbox/stats").status_code == 204
    assert http.get("_sandbox/stats").json()["total_requests"] == 0


def _page_through(client: httpx.Client, query: str) -> tuple[list[str], list[int]]:
    """Names of every sample, paging until an empty page or "Invalid page.", and page sizes."""
    names: list[str] = []
    sizes: list[int] = []
    page = 1
    while True:
        r = client.get(f"datasets/{DEMO_DS}/samples/?{query}&page={page}")
        if r.status_code == 404:
            assert r.json() == {"detail": "Invalid page."}
            return names, sizes
        assert r.status_code == 200, r.text
        if not r.json():
            return names, sizes
        names += [s["name"] for s in r.json()]
        sizes.append(len(r.json()))
        page += 1


def test_max_page_size_caps_every_page(demo_samples: list[dict[str, Any]]) -> None:
    # issue 11: a platform may serve fewer items than per_page asks; the sandbox can too.
    with (
        start_sandbox(data=both_manifests(), api_key=KEY, max_page_size=5) as sb,
        httpx.Client(base_url=sb.url, headers={"Authorization": f"APIKey {KEY}"}) as c,
    ):
        names, sizes = _page_through(c, "per_page=1000&sort=name&labelset=ground-truth")
        assert sizes == [5, 5, 5, 5, 4]
        assert names == sorted(s["name"] for s in demo_samples)
        # A per_page below the cap is served as asked.
        assert len(c.get(f"datasets/{DEMO_DS}/samples/?per_page=3").json()) == 3


def test_max_page_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_page_size"):
        start_sandbox(data=both_manifests(), api_key=KEY, max_page_size=0)


def test_samples_sort_by_name_and_stable_default_order(
    http: httpx.Client, demo_samples: list[dict[str, Any]]
) -> None:
    by_name = sorted(s["name"] for s in demo_samples)
    names, _ = _page_through(http, "per_page=7&sort=name")
    assert names == by_name
    names, _ = _page_through(http, "per_page=7&sort=-name")
    assert names == by_name[::-1]
    # Without sort the order is the same on every request (pages never overlap or skip).
    default, _ = _page_through(http, "per_page=7")
    again, _ = _page_through(http, "per_page=5")
    assert default == again
    assert sorted(default) == by_name

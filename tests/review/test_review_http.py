"""The review page's HTTP side against a real sandbox: what needs the key and what does not,
the images, paging and sorting, search (and its errors) and copy with the upload guard,
read back through the official SDK."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from reviewkit import DS, KEY, REPO, Prediction, category_ids, demo_manifest
from segments import SegmentsClient

from upload_preds.sandbox import SandboxHandle

API = f"/_review/api/datasets/{DS}"


def client(sb: SandboxHandle, key: str | None = KEY) -> httpx.Client:
    headers = {"Authorization": f"APIKey {key}"} if key else {}
    return httpx.Client(base_url=sb.url, headers=headers, timeout=30)


def gt_labels() -> dict[str, dict[str, Any]]:
    return {
        s["name"]: s["labels"]["ground-truth"]
        for s in demo_manifest()["datasets"][0]["samples"]
        if "ground-truth" in s["labels"]
    }


def count(annotations: list[dict[str, Any]], category: str) -> int:
    cid = category_ids()[category]
    return sum(1 for a in annotations if a["category_id"] == cid)


@pytest.mark.parametrize(
    ("path", "needs_key"),
    [
        pytest.param("/", False, id="page"),
        pytest.param("/_review/static/review.js", False, id="script"),
        pytest.param("/_review/static/review.css", False, id="styles"),
        pytest.param("/_review/media/images/img_0001.png", False, id="image"),
        pytest.param("/_review/api/datasets", True, id="api-datasets"),
        pytest.param(f"{API}/samples", True, id="api-samples"),
        pytest.param(f"{API}/search?q=", True, id="api-search"),
    ],
)
def test_what_needs_the_key(review_sandbox: SandboxHandle, path: str, needs_key: bool) -> None:
    with (
        client(review_sandbox, key=None) as anon,
        client(review_sandbox) as keyed,
        client(review_sandbox, key="wrong") as wrong,
    ):
        assert anon.get(path).status_code == (401 if needs_key else 200)
        assert keyed.get(path).status_code == 200
        assert wrong.get(path).status_code == (401 if needs_key else 200)


def test_page_holds_no_key_and_forbids_inline_script(review_sandbox: SandboxHandle) -> None:
    r = httpx.get(review_sandbox.url)
    assert KEY not in r.text
    assert "<script>" not in r.text  # only the packaged file, which the CSP allows
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Referrer-Policy"] == "no-referrer"


def test_copy_needs_the_key(review_sandbox: SandboxHandle, preds: list[Prediction]) -> None:
    body = {"sample": preds[9].sample_name, "from": "predictions", "to": "ground-truth"}
    with client(review_sandbox, key=None) as anon:
        assert anon.post(f"{API}/copy", json=body).status_code == 401
    with client(review_sandbox) as c:
        assert c.get(f"/labels/{preds[9].sample_uuid}/ground-truth/").status_code == 404


def test_images_are_the_committed_files_and_nothing_else(review_sandbox: SandboxHandle) -> None:
    with client(review_sandbox, key=None) as anon:
        r = anon.get("/_review/media/images/img_0003.png")
        assert r.headers["content-type"] == "image/png"
        assert r.content == (REPO / "sample_data" / "images" / "img_0003.png").read_bytes()
        for bad in (
            "/_review/media/dataset.json",  # inside the folder, not an image
            "/_review/media/images/nope.png",
            "/_review/media/images/..%2f..%2fpyproject.toml",
            "/_review/media/%2e%2e/%2e%2e/README.md",
        ):
            assert anon.get(bad).status_code in (401, 404), bad


def test_images_resolve_and_every_demo_sample_has_one(review_sandbox: SandboxHandle) -> None:
    with client(review_sandbox) as c:
        page = c.get(f"{API}/samples", params={"per_page": 50}).json()
        assert page["total"] == 24
        for s in page["samples"]:
            assert s["image_url"].startswith("/_review/media/images/img_")
            img = c.get(s["image_url"])
            assert img.status_code == 200
            assert img.content.startswith(b"\x89PNG")
            assert len(img.content) < 20_000


def test_pages_cover_every_sample_once(review_sandbox: SandboxHandle) -> None:
    seen: list[str] = []
    with client(review_sandbox) as c:
        for page in (1, 2, 3):
            r = c.get(f"{API}/samples", params={"per_page": 10, "page": page, "sort": "name"})
            data = r.json()
            assert (data["total"], data["pages"], data["page"]) == (24, 3, page)
            seen += [s["name"] for s in data["samples"]]
    names = sorted(s["name"] for s in demo_manifest()["datasets"][0]["samples"])
    assert seen == names


@pytest.mark.parametrize("descending", [True, False], ids=["high-first", "low-first"])
def test_sort_by_score(
    review_sandbox: SandboxHandle, preds: list[Prediction], descending: bool
) -> None:
    sign = "-" if descending else ""
    with client(review_sandbox) as c:
        r = c.get(f"{API}/samples", params={"per_page": 24, "sort": f"{sign}score:predictions"})
    got = [s["name"] for s in r.json()["samples"]]
    expected = [p.sample_name for p in sorted(preds, key=lambda p: p.score, reverse=descending)]
    assert got == expected


def test_missing_scores_sort_last_both_ways(review_sandbox: SandboxHandle) -> None:
    # Ground truth: img_0005 is PRELABELED with score 0.5; the others have no score or label.
    with client(review_sandbox) as c:
        for sort in ("score:ground-truth", "-score:ground-truth"):
            r = c.get(f"{API}/samples", params={"per_page": 24, "sort": sort})
            assert r.json()["samples"][0]["name"] == "img_0005.jpg", sort


def test_sort_by_status_follows_the_workflow(review_sandbox: SandboxHandle) -> None:
    with client(review_sandbox) as c:
        r = c.get(f"{API}/samples", params={"per_page": 24, "sort": "status:ground-truth"})
    statuses = [
        (s["labels"]["ground-truth"] or {}).get("label_status", "UNLABELED")
        for s in r.json()["samples"]
    ]
    order = ["UNLABELED", "PRELABELED", "LABELING_IN_PROGRESS", "LABELED", "REVIEWED"]
    assert statuses == sorted(statuses, key=order.index)
    assert statuses[0] == "UNLABELED"
    assert statuses[-1] == "REVIEWED"


def test_search_endpoint_equals_brute_force(
    review_sandbox: SandboxHandle, preds: list[Prediction]
) -> None:
    gt = gt_labels()
    expected = sorted(
        p.sample_name
        for p in preds
        if count(gt.get(p.sample_name, {}).get("attributes", {}).get("annotations", []), "car") > 0
        and count(p.annotations, "car") == 0
    )
    q = "ground-truth.car:>0 predictions.car:=0"
    with client(review_sandbox) as c:
        data = c.get(f"{API}/search", params={"q": q}).json()
        page = c.get(f"{API}/samples", params={"q": q, "sort": "name"}).json()
    assert [s["name"] for s in data["samples"]] == expected
    assert data["total"] == len(expected)
    assert data["columns"] == ["ground-truth.car", "predictions.car"]
    assert all(s["counts"]["predictions.car"] == 0 for s in data["samples"])
    assert [s["name"] for s in page["samples"]] == expected


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        pytest.param("predictions.total_count:=0", lambda p, m: not p.annotations, id="total_count"),
        pytest.param("sequence:>2", lambda p, m: m["sequence"] > 2, id="metadata-number"),
        pytest.param("sequence:1,2", lambda p, m: m["sequence"] in (1, 2), id="metadata-list"),
        pytest.param('camera:"front"', lambda p, m: m["camera"] == "front", id="metadata-quoted"),
        pytest.param("0001", lambda p, m: "0001" in p.sample_name, id="sample-name"),
        pytest.param("predictions.car:[0,1] sequence:3", lambda p, m: count(p.annotations, "car") in (0, 1) and m["sequence"] == 3, id="list-and-metadata"),
    ],
)  # fmt: skip
def test_search_api_takes_the_platforms_terms(
    review_sandbox: SandboxHandle, preds: list[Prediction], query: str, matches: Any
) -> None:
    meta = {s["name"]: s["metadata"] for s in demo_manifest()["datasets"][0]["samples"]}
    expected = sorted(p.sample_name for p in preds if matches(p, meta[p.sample_name]))
    with client(review_sandbox) as c:
        data = c.get(f"{API}/search", params={"q": query}).json()
        page = c.get(f"{API}/samples", params={"q": query, "sort": "name", "per_page": 200})
    assert [s["name"] for s in data["samples"]] == expected
    assert page.status_code == 200, page.text
    assert [s["name"] for s in page.json()["samples"]] == expected
    assert page.json()["total"] == len(expected)


def test_metadata_search_sees_a_sample_added_after_the_first_search(
    review_sandbox: SandboxHandle,
) -> None:
    """The metadata kept for search is read again when a sample is added through the API."""
    with client(review_sandbox) as c:
        assert c.get(f"{API}/search", params={"q": "sequence:>=4"}).json()["total"] == 0
        r = c.post(
            f"/datasets/{DS}/samples/",
            json={"name": "late.jpg", "attributes": {"image": {"url": "x.png"}},
                  "metadata": {"camera": "rear", "sequence": 4}},
        )  # fmt: skip
        assert r.status_code in (200, 201), r.text
        data = c.get(f"{API}/search", params={"q": "sequence:>=4 camera:rear"}).json()
    assert [s["name"] for s in data["samples"]] == ["late.jpg"]


@pytest.mark.parametrize(
    ("query", "underlined"),
    [
        pytest.param("ground-truth.car:>x", "x", id="syntax"),
        pytest.param("ground-truth.car:>0 predictons.car:=0", "predictons", id="labelset"),
        pytest.param("ground-truth.Car:>0", "Car", id="category"),
        pytest.param("sequnce:>1", "sequnce", id="metadata-key"),
        pytest.param("sequence:>one", ">one", id="metadata-number"),
    ],
)
def test_bad_query_answers_400_pointing_at_it(
    review_sandbox: SandboxHandle, query: str, underlined: str
) -> None:
    with client(review_sandbox) as c:
        for path in ("search", "samples"):
            r = c.get(f"{API}/{path}", params={"q": query})
            assert r.status_code == 400
            err = r.json()["query_error"]
            assert query[err["start"] : err["end"]] == underlined
            assert "^" in err["pointer"]


def copy(
    sb: SandboxHandle, sample: str, src: str, dst: str, overwrite: bool = False
) -> httpx.Response:
    with client(sb) as c:
        return c.post(
            f"{API}/copy", json={"sample": sample, "from": src, "to": dst, "overwrite": overwrite}
        )


def test_copy_into_an_empty_label_set_and_read_back_with_the_sdk(
    review_sandbox: SandboxHandle, preds: list[Prediction]
) -> None:
    p = next(p for p in preds[5:] if p.annotations)  # img_0006+ have no ground truth
    r = copy(review_sandbox, p.sample_name, "predictions", "ground-truth")
    assert r.status_code == 200, r.text
    assert r.json()["replaced_status"] == "UNLABELED"
    with SegmentsClient(KEY, api_url=review_sandbox.url) as sdk:
        label = sdk.get_label(p.sample_uuid, labelset="ground-truth")
    assert label.label_status == "PRELABELED"
    assert label.score == pytest.approx(p.score)
    got = [(a.category_id, a.points) for a in label.attributes.annotations]
    assert got == [(a["category_id"], a["points"]) for a in p.annotations]


@pytest.mark.parametrize(
    ("sample", "status", "allowed"),
    [
        pytest.param("img_0001.jpg", "LABELED", False, id="labeled"),
        pytest.param("img_0003.jpg", "REVIEWED", False, id="reviewed"),
        pytest.param("img_0004.jpg", "LABELING_IN_PROGRESS", False, id="in-progress"),
        pytest.param("img_0005.jpg", "PRELABELED", True, id="prelabeled"),
    ],
)
def test_copy_guard(review_sandbox: SandboxHandle, sample: str, status: str, allowed: bool) -> None:
    with client(review_sandbox) as c:
        uuid = next(
            s["uuid"] for s in demo_manifest()["datasets"][0]["samples"] if s["name"] == sample
        )
        before = c.get(f"/labels/{uuid}/ground-truth/").json()
        assert before["label_status"] == status
        r = copy(review_sandbox, uuid, "predictions", "ground-truth")
        after = c.get(f"/labels/{uuid}/ground-truth/").json()
        if allowed:
            assert r.status_code == 200
            assert after["label_status"] == "PRELABELED"
            assert after["attributes"] != before["attributes"]
            return
        assert r.status_code == 409
        assert r.json()["target_status"] == status
        assert status in r.json()["detail"]
        assert "overwrite" in r.json()["detail"]
        assert after == before
        r = copy(review_sandbox, uuid, "predictions", "ground-truth", overwrite=True)
        assert r.status_code == 200
        assert r.json()["replaced_status"] == status
        assert c.get(f"/labels/{uuid}/ground-truth/").json()["label_status"] == "PRELABELED"


@pytest.mark.parametrize(
    ("body", "status", "phrase"),
    [
        pytest.param({"sample": "nope.jpg", "from": "predictions", "to": "ground-truth"}, 404, "no sample", id="unknown-sample"),
        pytest.param({"sample": "img_0007.jpg", "from": "model", "to": "ground-truth"}, 404, "no label set 'model'", id="unknown-labelset"),
        pytest.param({"sample": "img_0007.jpg", "from": "ground-truth", "to": "predictions"}, 404, "nothing to copy", id="no-source-label"),
        pytest.param({"sample": "img_0007.jpg", "from": "predictions", "to": "predictions"}, 400, "same label set", id="same-set"),
        pytest.param({"sample": "img_0007.jpg", "from": "predictions"}, 400, "'to' is required", id="missing-field"),
        pytest.param({"sample": "img_0007.jpg", "from": "predictions", "to": "ground-truth", "overwrite": "yes"}, 400, "true or false", id="overwrite-not-bool"),
    ],
)  # fmt: skip
def test_copy_refusals(
    review_sandbox: SandboxHandle, body: dict[str, Any], status: int, phrase: str
) -> None:
    with client(review_sandbox) as c:
        r = c.post(f"{API}/copy", json=body)
    assert r.status_code == status
    assert phrase in r.json()["detail"]


def test_review_requests_are_not_counted_or_faulted(review_sandbox: SandboxHandle) -> None:
    from upload_preds.sandbox import Faults

    review_sandbox.reset_stats()
    review_sandbox.set_faults(Faults(error_rate=1.0), seed=1)
    with client(review_sandbox) as c:
        assert c.get(f"{API}/samples").status_code == 200
        assert c.get("/").status_code == 200
        assert c.get(f"/datasets/{DS}/").status_code >= 500
    assert review_sandbox.stats()["total_requests"] == 1

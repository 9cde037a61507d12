"""``upload-preds-sandbox search`` and ``copy`` as real subprocesses on a sandbox database:
output, JSON, exit codes, the caret under a bad term, the guard, and a copy made beside a
running server showing up in that server's answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from reviewkit import DEMO, DS, KEY, Prediction, category_ids, demo_manifest, put_predictions

from upload_preds.sandbox import start_sandbox


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "upload_preds.sandbox.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def db(tmp_path: Path, preds: list[Prediction]) -> Path:
    """A sandbox database with the demo and the predictions, no server running on it."""
    path = tmp_path / "cli.sqlite3"
    with start_sandbox(data=DEMO, db=path, api_key=KEY) as sb:
        put_predictions(sb.url, preds)
    return path


def expected_matches(preds: list[Prediction], gt_min: int, pred_eq: int) -> list[Prediction]:
    car = category_ids()["car"]
    gt = {
        s["name"]: s["labels"]["ground-truth"]["attributes"]["annotations"]
        for s in demo_manifest()["datasets"][0]["samples"]
        if "ground-truth" in s["labels"]
    }
    return sorted(
        (
            p
            for p in preds
            if sum(a["category_id"] == car for a in gt.get(p.sample_name, [])) >= gt_min
            and sum(a["category_id"] == car for a in p.annotations) == pred_eq
        ),
        key=lambda p: p.sample_name,
    )


def test_search_prints_a_table(db: Path, preds: list[Prediction]) -> None:
    r = run("search", "ground-truth.car:>0 predictions.car:=0", "--dataset", DS, "--db", str(db))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["name", "uuid", "ground-truth.car", "predictions.car"]
    want = expected_matches(preds, 1, 0)
    assert [line.split()[:2] for line in lines[1:]] == [
        [p.sample_name, p.sample_uuid] for p in want
    ]
    assert all(line.split()[3] == "0" for line in lines[1:])
    assert f"{len(want)} of 24 samples in {DS} match" in r.stderr


def test_search_json(db: Path, preds: list[Prediction]) -> None:
    r = run("search", "predictions.car:=1", "--dataset", DS, "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    want = expected_matches(preds, 0, 1)
    assert out["total"] == len(want)
    assert out["samples"] == [
        {"name": p.sample_name, "uuid": p.sample_uuid, "counts": {"predictions.car": 1}}
        for p in want
    ]


def test_search_limit(db: Path) -> None:
    r = run("search", "", "--dataset", DS, "--db", str(db), "--limit", "5")
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == 6
    assert "24 of 24 samples in demo/street-scenes match (showing 5)" in r.stderr


def metadata_of() -> dict[str, dict[str, object]]:
    return {s["name"]: s["metadata"] for s in demo_manifest()["datasets"][0]["samples"]}


# The platform's term kinds, pasted as its search box takes them: (query, which
# predictions match, the columns printed).
PLATFORM_TERMS = [
    pytest.param(
        "predictions.total_count:>3",
        lambda p, meta: len(p.annotations) > 3,
        ["predictions.total_count"],
        id="total_count",
    ),
    pytest.param(
        "predictions.total_count:[2,4]",
        lambda p, meta: len(p.annotations) in (2, 4),
        ["predictions.total_count"],
        id="count-list",
    ),
    pytest.param(
        "sequence:>=2", lambda p, meta: meta["sequence"] >= 2, ["sequence"], id="metadata-number"
    ),
    pytest.param(
        "sequence:[1,3]",
        lambda p, meta: meta["sequence"] in (1, 3),
        ["sequence"],
        id="metadata-list",
    ),
    pytest.param("camera:front", lambda p, meta: True, ["camera"], id="metadata-text"),
    pytest.param("camera:rear", lambda p, meta: False, ["camera"], id="metadata-no-match"),
    pytest.param("img_001", lambda p, meta: "img_001" in p.sample_name, [], id="sample-name"),
    pytest.param(
        "IMG_002 sequence:3 predictions.total_count:>=1",
        lambda p, meta: "img_002" in p.sample_name and meta["sequence"] == 3 and p.annotations,
        ["predictions.total_count", "sequence"],
        id="all-kinds",
    ),
]


@pytest.mark.parametrize(("query", "matches", "columns"), PLATFORM_TERMS)
def test_search_takes_the_platforms_terms(
    db: Path, preds: list[Prediction], query: str, matches: Any, columns: list[str]
) -> None:
    meta = metadata_of()
    want = sorted(
        (p for p in preds if matches(p, meta[p.sample_name])), key=lambda p: p.sample_name
    )
    r = run("search", query, "--dataset", DS, "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["columns"] == columns
    assert [s["name"] for s in out["samples"]] == [p.sample_name for p in want]
    for s, p in zip(out["samples"], want, strict=True):
        if "predictions.total_count" in columns:
            assert s["counts"]["predictions.total_count"] == len(p.annotations)
        for key in ("sequence", "camera"):
            if key in columns:
                assert s["counts"][key] == meta[p.sample_name][key]
    table = run("search", query, "--dataset", DS, "--db", str(db))
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["name", "uuid", *columns]
    assert f"{len(want)} of 24 samples in {DS} match" in table.stderr


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        pytest.param(
            ["search", "ground-truth.car:>0 predictions.car:>=x"],
            ["column 39", "  ground-truth.car:>0 predictions.car:>=x\n" + " " * 40 + "^"],
            id="bad-term-caret",
        ),
        pytest.param(
            ["search", "groundtruth.car:>0"], ["did you mean ground-truth"], id="unknown-labelset"
        ),
        pytest.param(["search", "x.car:>0", "--dataset", "demo/nope"], ["no dataset 'demo/nope'"], id="unknown-dataset"),
        pytest.param(["search", "camra:front"], ["no sample of demo/street-scenes has metadata 'camra'", "did you mean camera"], id="unknown-metadata-key"),
        pytest.param(["search", "car:>0"], ["'car' is a category: write LABELSET.car:>0"], id="category-without-labelset"),
        pytest.param(["search", "sequence:>two"], ["expected a number after '>'"], id="metadata-not-a-number"),
    ],
)  # fmt: skip
def test_search_errors_exit_2(db: Path, args: list[str], phrases: list[str]) -> None:
    if "--dataset" not in args:
        args = [*args, "--dataset", DS]
    r = run(*args, "--db", str(db))
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    for phrase in phrases:
        assert phrase in r.stderr


def test_missing_database_is_a_usage_error(tmp_path: Path) -> None:
    r = run("search", "", "--dataset", DS, "--db", str(tmp_path / "none.sqlite3"))
    assert r.returncode == 2
    assert "no sandbox database" in r.stderr
    assert not (tmp_path / "none.sqlite3").exists()


def label_of(db: Path, sample: str, labelset: str) -> dict[str, object] | None:
    with start_sandbox(data=DEMO, db=db, api_key=KEY) as sb:
        r = httpx.get(
            f"{sb.url}labels/{sample}/{labelset}/", headers={"Authorization": f"APIKey {KEY}"}
        )
    return r.json() if r.status_code == 200 else None


def test_copy_by_name_into_an_empty_set(db: Path, preds: list[Prediction]) -> None:
    p = preds[10]
    r = run("copy", p.sample_name, "--dataset", DS, "--from", "predictions", "--to", "ground-truth", "--db", str(db))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"copied {p.sample_name} ({p.sample_uuid})" in r.stderr
    label = label_of(db, p.sample_uuid, "ground-truth")
    assert label is not None
    assert label["label_status"] == "PRELABELED"
    assert label["attributes"]["annotations"] == p.annotations  # type: ignore[index]


def test_copy_guard_then_overwrite(db: Path, preds: list[Prediction]) -> None:
    p = preds[0]  # img_0001: ground truth LABELED by a person
    args = ["copy", p.sample_uuid, "--dataset", DS, "--from", "predictions", "--to", "ground-truth", "--db", str(db)]  # fmt: skip
    r = run(*args)
    assert r.returncode == 1
    assert "LABELED" in r.stderr
    assert "overwrite" in r.stderr
    label = label_of(db, p.sample_uuid, "ground-truth")
    assert label is not None
    assert label["label_status"] == "LABELED"
    r = run(*args, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert "replacing a LABELED label" in r.stderr
    label = label_of(db, p.sample_uuid, "ground-truth")
    assert label is not None
    assert label["label_status"] == "PRELABELED"


@pytest.mark.parametrize(
    ("sample", "src", "dst", "phrase"),
    [
        pytest.param("img_9999.jpg", "predictions", "ground-truth", "no sample", id="unknown-sample"),
        pytest.param("img_0009.jpg", "ground-truth", "predictions", "nothing to copy", id="no-source-label"),
        pytest.param("img_0009.jpg", "model-v9", "predictions", "no label set 'model-v9'", id="unknown-labelset"),
        pytest.param("img_0009.jpg", "predictions", "predictions", "same label set", id="same-set"),
    ],
)  # fmt: skip
def test_copy_usage_errors_exit_2(db: Path, sample: str, src: str, dst: str, phrase: str) -> None:
    r = run("copy", sample, "--dataset", DS, "--from", src, "--to", dst, "--db", str(db))
    assert r.returncode == 2
    assert phrase in r.stderr
    assert "Traceback" not in r.stderr


def test_copy_beside_a_running_server_shows_in_its_search(
    tmp_path: Path, preds: list[Prediction]
) -> None:
    path = tmp_path / "live.sqlite3"
    with start_sandbox(data=DEMO, db=path, api_key=KEY) as sb:
        put_predictions(sb.url, preds)
        headers = {"Authorization": f"APIKey {KEY}"}
        p = next(p for p in preds[5:] if any(a["category_id"] == 1 for a in p.annotations))
        q = {"q": "ground-truth.car:>0", "per_page": 50}
        url = f"{sb.url}_review/api/datasets/{DS}/samples"
        before = [s["name"] for s in httpx.get(url, params=q, headers=headers).json()["samples"]]
        assert p.sample_name not in before
        r = run("copy", p.sample_name, "--dataset", DS, "--from", "predictions", "--to", "ground-truth", "--db", str(path))  # fmt: skip
        assert r.returncode == 0, r.stderr
        after = [s["name"] for s in httpx.get(url, params=q, headers=headers).json()["samples"]]
        assert after == sorted([*before, p.sample_name])

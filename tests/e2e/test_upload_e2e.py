"""End-to-end uploads against the sandbox, checked with the official SDK.

The numbered tests are the nine of the upload issue; the rest cover the
preflight, the dry run, the report and the Python API.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import segments

import upload_preds
from clikit import write_jsonl
from upload_preds.sandbox import Faults

from .conftest import (
    LABEL_ROUTE,
    Env,
    MakeEnv,
    make_manifest,
    prediction_row,
    sample_uuid,
)


def sdk(env: Env) -> segments.SegmentsClient:
    return segments.SegmentsClient(api_key=env.key, api_url=env.sandbox.url)


def server_labels(env: Env, labelset: str) -> dict[str, dict[str, Any]]:
    """Every label of a label set as the SDK reads it: uuid → {status, attributes, score}.

    The listing finds the samples that have a label (the others are listed as
    UNLABELED); ``get_label`` reads each one in full (the SDK parses listed
    labels as summaries).
    """
    client = sdk(env)
    out: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        try:
            samples = client.get_samples("test/big", labelset=labelset, per_page=1000, page=page)
        except segments.exceptions.NotFoundError:  # "Invalid page.": past the last full page
            return out
        for s in samples:
            status = getattr(s.label, "label_status", None)
            if s.label is None or str(getattr(status, "value", status)) == "UNLABELED":
                continue
            label = client.get_label(s.uuid, labelset)
            assert label.attributes is not None
            status = label.label_status
            out[s.uuid] = {
                "label_status": str(getattr(status, "value", status)),
                "attributes": label.attributes.model_dump(mode="json", exclude_unset=True),
                "score": label.score,
            }
        if len(samples) < 1000:
            return out
        page += 1


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_1_every_label_arrives_through_errors_drops_and_throttling(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    n = 5000
    env = make_env(n)
    preds = write_jsonl(tmp_path / "preds.jsonl", [prediction_row(i) for i in range(n)])
    expected_file = tmp_path / "expected.jsonl"
    res = env.run(preds, "--output-labels", expected_file, "--json")
    assert res.code == 0, res.stderr
    expected = {row["sample_uuid"]: row for row in read_jsonl(expected_file)}
    assert len(expected) == n

    env.sandbox.set_faults(Faults(error_rate=0.05, drop_rate=0.01, throttle_rps=300), seed=7)
    res = env.run(preds, "--json", "--concurrency", "32", timeout=300)
    env.sandbox.set_faults(Faults())
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["counts"] == {"rows": n, "uploaded": n, "skipped": 0, "failed": 0}
    assert report["retries"] > 0  # the faults really happened and were retried

    stored = server_labels(env, "ground-truth")
    assert set(stored) == set(expected)
    for uuid, label in stored.items():
        want = expected[uuid]
        assert label["attributes"] == want["attributes"], uuid
        assert label["label_status"] == "PRELABELED"
        assert label["score"] == want["score"]


def test_2_the_guard_keeps_labels_people_worked_on(make_env: MakeEnv, tmp_path: Path) -> None:
    human = {0: "LABELED", 1: "REVIEWED", 2: "PRELABELED"}
    env = make_env(6, human)
    before = server_labels(env, "ground-truth")
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(i) for i in range(6)])

    res = env.run(preds, "--json")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["skipped_by_reason"] == {"protected": 2}
    assert report["counts"]["uploaded"] == 4
    after = server_labels(env, "ground-truth")
    for i in (0, 1):
        assert after[sample_uuid(i)] == before[sample_uuid(i)]
    assert after[sample_uuid(2)]["label_status"] == "PRELABELED"
    assert after[sample_uuid(2)] != before[sample_uuid(2)]  # a model's pre-label is replaced

    res = env.run(preds, "--json", "--overwrite")
    assert res.code == 0, res.stderr
    assert res.report()["counts"]["uploaded"] == 2  # the other four are already uploaded
    replaced = server_labels(env, "ground-truth")
    for i in (0, 1):
        assert replaced[sample_uuid(i)]["label_status"] == "PRELABELED"
        assert replaced[sample_uuid(i)]["attributes"] != before[sample_uuid(i)]["attributes"]


@pytest.mark.slow
def test_3_resume_after_sigkill_sends_little_twice(make_env: MakeEnv, tmp_path: Path) -> None:
    n, concurrency = 1500, 8
    env = make_env(n)
    env.sandbox.set_faults(Faults(latency_ms=20))
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(i) for i in range(n)])
    proc = env.popen(preds, "--concurrency", str(concurrency), "--quiet")
    deadline = time.monotonic() + 60
    while env.label_puts() < n // 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    sent_before = env.label_puts()
    assert n // 3 <= sent_before < n

    env.sandbox.set_faults(Faults())
    res = env.run(preds, "--concurrency", str(concurrency), "--json")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["counts"]["uploaded"] + report["skipped_by_reason"]["already uploaded"] == n
    assert len(server_labels(env, "ground-truth")) == n
    assert env.label_puts() <= n + 2 * concurrency


def test_4_sigterm_exits_130_with_a_summary_and_a_rerun_completes(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    n = 600
    env = make_env(n)
    env.sandbox.set_faults(Faults(latency_ms=30))
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(i) for i in range(n)])
    proc = env.popen(preds, "--concurrency", "4")
    deadline = time.monotonic() + 60
    while env.label_puts() < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    stderr = err.decode()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Summary" in stderr
    assert "resume with: upload-preds" in stderr
    assert "Traceback" not in stderr

    env.sandbox.set_faults(Faults())
    res = env.run(preds, "--json")
    assert res.code == 0, res.stderr
    assert len(server_labels(env, "ground-truth")) == n


def test_5_a_wrong_key_aborts_at_once(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(200)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(i) for i in range(200)])
    env.sandbox.reset_stats()
    res = env.run(preds, SEGMENTS_API_KEY="sk-wrong")
    assert res.code == 3, res.stderr
    assert "API key was rejected" in res.stderr
    assert "SEGMENTS_API_KEY" in res.stderr
    assert env.sandbox.stats()["total_requests"] <= 3
    assert env.label_puts() == 0


def test_6_bad_rows_go_to_the_failures_file_and_can_be_fed_back(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = make_env(10)
    rows: list[dict[str, Any]] = [prediction_row(i) for i in range(10)]
    rows[3]["annotations"][0]["category"] = "cra"  # a typo: fails conversion
    rows[5]["sample_uuid"] = sample_uuid(999)  # a sample that does not exist: the server says 404
    preds = write_jsonl(tmp_path / "preds.jsonl", rows)
    res = env.run(preds, "--json")
    assert res.code == 1, res.stderr
    report = res.report()
    assert report["counts"] == {"rows": 10, "uploaded": 8, "skipped": 0, "failed": 2}
    failures = tmp_path / "preds.failed.jsonl"
    assert report["failures_files"] == [str(failures)]
    failed = read_jsonl(failures)
    assert [f["sample_uuid"] for f in failed] == [sample_uuid(3), sample_uuid(999)]
    assert "cra" in failed[0]["_error"]
    assert "preds.jsonl:4" in res.stderr
    assert f"upload-preds {failures}" in res.stderr  # the retry command

    # Fix both rows in the failures file and feed it back as it is.
    fixed = []
    for row in failed:
        row["annotations"][0]["category"] = "car"
        if row["sample_uuid"] == sample_uuid(999):
            row["sample_uuid"] = sample_uuid(5)
        fixed.append(row)
    write_jsonl(failures, fixed)
    res = env.run(failures, "--json")
    assert res.code == 0, res.stderr
    assert res.report()["counts"]["uploaded"] == 2
    assert len(server_labels(env, "ground-truth")) == 10


def test_7_without_a_terminal_progress_is_plain_status_lines(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = make_env(300)
    env.sandbox.set_faults(Faults(latency_ms=20))
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(i) for i in range(300)])
    res = env.run(preds, "--concurrency", "4", "--progress-interval", "0.3", NO_COLOR="")
    assert res.code == 0, res.stderr
    assert "\x1b" not in res.stderr
    assert "\r" not in res.stderr
    status = [line for line in res.stderr.splitlines() if " rows: " in line]
    assert len(status) >= 2, res.stderr
    assert "uploaded" in status[0]
    assert "labels/s" in status[0]
    assert "/300 rows" in status[0]


def test_8_the_key_appears_nowhere(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(10)
    rows = [prediction_row(i) for i in range(10)]
    rows[2]["annotations"][0]["category"] = "nope"
    preds = write_jsonl(tmp_path / "preds.jsonl", rows)
    report_file = tmp_path / "report.json"
    outputs = []
    for args in (
        ["--json", "--report", report_file],
        ["--api-key", env.key, "--dry-run", "--json"],
        ["--api-key", env.key, "--debug", "--json", "--no-resume"],
    ):
        res = env.run(preds, *args)
        outputs += [res.stdout, res.stderr]
    interrupted = env.popen(preds, "--api-key", env.key, "--no-resume")
    interrupted.send_signal(signal.SIGINT)
    out, err = interrupted.communicate(timeout=60)
    outputs += [out.decode(), err.decode()]
    res = env.run(preds, SEGMENTS_API_KEY=env.key + "x")  # a rejected key
    outputs += [res.stdout, res.stderr]
    files = [report_file, tmp_path / "preds.failed.jsonl", env.journal]
    files += list(env.journal.parent.glob(env.journal.name + "*"))
    blobs = [o.encode() for o in outputs] + [f.read_bytes() for f in files if f.exists()]
    with sqlite3.connect(env.journal) as db:
        blobs.append(repr(db.execute("SELECT * FROM uploaded").fetchall()).encode())
    assert env.key.encode() not in b"\n".join(blobs)


def test_9_shards_together_upload_each_row_once(make_env: MakeEnv, tmp_path: Path) -> None:
    n, shards = 300, 3
    env = make_env(n)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(i) for i in range(n)])
    uploaded = 0
    for k in range(1, shards + 1):
        res = env.run(preds, "--shard", f"{k}/{shards}", "--json")
        assert res.code == 0, res.stderr
        report = res.report()
        assert report["counts"]["rows"] == n
        assert report["skipped_by_reason"].get("other shard", 0) == n - report["counts"]["uploaded"]
        assert 0 < report["counts"]["uploaded"] < n
        uploaded += report["counts"]["uploaded"]
    assert uploaded == n
    assert env.label_puts() == n
    assert len(server_labels(env, "ground-truth")) == n
    res = env.run(preds, "--shard", "4/3")
    assert res.code == 2
    assert "--shard" in res.stderr


# -- preflight, dry run, report -------------------------------------------------------


def test_no_key_exits_2_naming_the_env_var_and_sandbox(tmp_path: Path, make_env: MakeEnv) -> None:
    env = make_env(3)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(0)])
    res = env.run(preds, SEGMENTS_API_KEY="")
    assert res.code == 2
    assert "SEGMENTS_API_KEY" in res.stderr
    assert "--sandbox" in res.stderr


def test_plain_http_to_a_remote_host_is_refused(tmp_path: Path, make_env: MakeEnv) -> None:
    env = make_env(3)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(0)])
    res = env.run(preds, SEGMENTS_API_URL="http://api.example.invalid/")
    assert res.code == 2
    assert "--allow-insecure-http" in res.stderr


def test_missing_labelset_needs_create_labelset(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(5)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(i) for i in range(5)])
    res = env.run(preds, "--labelset", "model-v2")
    assert res.code == 2
    assert "--create-labelset" in res.stderr
    assert env.label_puts() == 0
    res = env.run(
        preds,
        "--labelset",
        "model-v2",
        "--create-labelset",
        "--labelset-description",
        "v2",
        "--json",
    )
    assert res.code == 0, res.stderr
    labels = server_labels(env, "model-v2")
    assert len(labels) == 5
    assert all(lab["score"] == 0.9 for lab in labels.values())
    assert [ls.name for ls in sdk(env).get_labelsets("test/big") if ls.name == "model-v2"]


def test_names_resolve_and_unknown_names_fail_with_suggestions(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = make_env(20)
    rows = [prediction_row(i, by_name=True) for i in range(5)]
    rows.append({"sample_name": "frame_00003.jpeg", "annotations": []})
    preds = write_jsonl(tmp_path / "p.jsonl", rows)
    res = env.run(preds, "--dataset", "test/big", "--json", "--labelset", "predictions")
    assert res.code == 1, res.stderr
    report = res.report()
    assert report["counts"]["uploaded"] == 5
    assert report["failed_by_reason"] == {"unknown sample": 1}
    assert "frame_00003.jpg" in res.stderr  # the suggestion
    assert env.sandbox.stats()["requests"]["GET"].get("/samples/{uuid}/") is None


def test_dry_run_with_an_api_is_read_only_and_says_what_would_happen(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    env = make_env(6, {0: "LABELED"})
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(i) for i in range(6)])
    assert env.run(preds.parent / "p.jsonl", "--shard", "1/1").code == 0  # upload once
    rows = [prediction_row(i) for i in range(6)]
    rows[1]["annotations"][0]["bbox"] = [1, 2, 3, 4]  # a changed prediction
    write_jsonl(preds, rows)
    env.sandbox.reset_stats()
    res = env.run(preds, "--dry-run", "--json")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["skipped_by_reason"] == {"protected": 1, "already uploaded": 4, "would upload": 1}
    assert "PUT" not in env.sandbox.stats()["requests"]
    assert "POST" not in env.sandbox.stats()["requests"]
    assert "preflight: dataset test/big" in res.stderr


def test_python_api_uploads_rows_and_returns_the_report(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(4)
    plan: list[str] = []
    report = upload_preds.upload(
        [prediction_row(i) for i in range(4)],
        api_key=env.key,
        api_url=env.sandbox.url,
        labelset="predictions",
        state=env.journal,
        on_plan=plan.append,
    )
    assert report.exit_code == 0
    assert report.to_dict()["counts"] == {"rows": 4, "uploaded": 4, "skipped": 0, "failed": 0}
    assert any("dataset test/big" in line for line in plan)
    assert len(server_labels(env, "predictions")) == 4


def test_report_file_is_the_versioned_json(make_env: MakeEnv, tmp_path: Path) -> None:
    env = make_env(3)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction_row(i) for i in range(3)])
    res = env.run(preds, "--report", tmp_path / "r.json", "--quiet")
    assert res.code == 0, res.stderr
    assert res.stdout == ""
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["version"] == 1
    assert set(report) >= {
        "counts",
        "skipped_by_reason",
        "failed_by_reason",
        "elapsed_s",
        "labels_per_s",
        "exit_code",
    }
    assert report["counts"]["uploaded"] == 3
    assert "preflight" not in res.stderr  # --quiet


def test_manifest_helper_is_valid() -> None:
    manifest = make_manifest(2, {0: "LABELED"})
    assert (
        manifest["datasets"][0]["samples"][0]["labels"]["ground-truth"]["label_status"] == "LABELED"
    )
    assert os.sep not in manifest["datasets"][0]["name"]
    assert LABEL_ROUTE.startswith("/labels/")

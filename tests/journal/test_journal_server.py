"""The journal is not believed over the server; it knows datasets by identity.

End to end against the real sandbox and the real CLI: the sandbox's database
recreated under the same URL, a label a person changed after we uploaded it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from preflightkit import DATASET, prediction, sample_uuid
from segments import SegmentsClient as SdkClient

from clikit import Cli, write_jsonl
from upload_preds.sandbox import SandboxHandle

MakeSandbox = Callable[..., SandboxHandle]


def test_a_recreated_database_at_the_same_url_gets_every_label_again(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    db = tmp_path / "sandbox.db"
    box = make_sandbox(37, db=db)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in range(37)])
    cli = Cli(box.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    first = cli.run(preds, "--dataset", DATASET, "--json", "--labelset", "predictions")
    assert first.code == 0, first.stderr
    assert first.report()["counts"]["uploaded"] == 37
    port = urlsplit(box.url).port
    box.stop()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    # Same URL, same key, same dataset name: a new, empty database.
    again = make_sandbox(37, db=db, port=port, api_key=box.api_key)
    assert again.url == box.url
    rerun = cli.run(preds, "--dataset", DATASET, "--json", "--labelset", "predictions")
    assert rerun.code == 0, rerun.stderr
    assert rerun.report()["counts"]["uploaded"] == 37
    assert "already uploaded" not in rerun.report()["skipped_by_reason"]
    with SdkClient(again.api_key, api_url=again.url) as sdk:
        assert sdk.get_label(sample_uuid(5), "predictions").label_status == "PRELABELED"


def test_a_label_a_person_changed_is_not_already_uploaded(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(12)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in range(12)])
    cli = Cli(box.url, box.api_key, tmp_path / "j.sqlite3", tmp_path)
    first = cli.run(preds, "--dataset", DATASET, "--json")
    assert first.code == 0, first.stderr
    assert first.report()["counts"]["uploaded"] == 12
    with SdkClient(box.api_key, api_url=box.url) as sdk:
        sdk.update_label(sample_uuid(3), "ground-truth", label_status="LABELED")
        sdk.delete_label(sample_uuid(4), "ground-truth")
    # Without --overwrite: the person's label is guarded, the deleted one uploaded again.
    guarded = cli.run(preds, "--dataset", DATASET, "--json")
    assert guarded.code == 0, guarded.stderr
    assert guarded.report()["skipped_by_reason"] == {"already uploaded": 10, "protected": 1}
    assert guarded.report()["counts"]["uploaded"] == 1
    # With --overwrite: the changed label is replaced, as the preflight says.
    replaced = cli.run(preds, "--dataset", DATASET, "--json", "--overwrite")
    assert replaced.code == 0, replaced.stderr
    assert replaced.report()["skipped_by_reason"] == {"already uploaded": 11}
    assert replaced.report()["counts"]["uploaded"] == 1
    with SdkClient(box.api_key, api_url=box.url) as sdk:
        assert sdk.get_label(sample_uuid(3), "ground-truth").label_status == "PRELABELED"
    # And now the journal agrees with the server again.
    settled = cli.run(preds, "--dataset", DATASET, "--json")
    assert settled.report()["skipped_by_reason"] == {"already uploaded": 12}


def test_a_corrupt_state_file_is_a_clear_setup_error(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(3)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in range(3)])
    state = tmp_path / "j.sqlite3"
    state.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    res = Cli(box.url, box.api_key, state, tmp_path).run(preds, "--dataset", DATASET)
    assert res.code == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "internal error" not in res.stderr
    assert str(state) in res.stderr
    assert "cannot be used as a journal" in res.stderr
    assert "move the file away" in res.stderr


def test_the_journal_is_created_readable_by_its_owner_only(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(3)
    preds = write_jsonl(tmp_path / "p.jsonl", [prediction(i) for i in range(3)])
    state = tmp_path / "state" / "j.sqlite3"
    old = os.umask(0o022)
    try:
        res = Cli(box.url, box.api_key, state, tmp_path).run(preds, "--dataset", DATASET)
    finally:
        os.umask(old)
    assert res.code == 0, res.stderr
    assert state.stat().st_mode & 0o777 == 0o600

"""Unit tests of the journal file: entries, identity keys, unusable files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from upload_preds.errors import SetupError
from upload_preds.journal import Journal


def test_entries_carry_what_the_server_said_and_are_keyed_by_dataset(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal(path, batch_size=100) as j:
        j.record("ds-A", "u1", "ground-truth", b"h" * 16, "PRELABELED", "2026-01-01T00:00:00Z")
        pending = j.lookup("ds-A", "u1", "ground-truth")  # found before the commit
        assert pending is not None
        assert pending.stamp == "2026-01-01T00:00:00Z"
    with Journal(path) as j:
        entry = j.lookup("ds-A", "u1", "ground-truth")
        assert entry is not None
        assert (entry.digest, entry.status) == (b"h" * 16, "PRELABELED")
        assert j.lookup("ds-B", "u1", "ground-truth") is None  # another dataset identity
        assert j.count("ds-A") == 1
        assert j.count("ds-A", "predictions") == 0
        assert j.already_uploaded("ds-A", "u1", "ground-truth", b"h" * 16)


def test_a_journal_of_a_newer_version_is_refused_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    db.commit()
    db.close()
    with pytest.raises(SetupError, match="newer upload-preds") as info:
        Journal(path)
    assert str(path) in info.value.message


def test_garbage_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(SetupError, match="cannot be used as a journal"):
        Journal(path)
    assert path.read_bytes() == b"\x00garbage" * 512


def test_a_directory_as_state_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="cannot be used as a journal"):
        Journal(tmp_path)


def test_a_version_1_journal_is_upgraded_by_dropping_its_unverifiable_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute(
        "CREATE TABLE uploaded (host TEXT, sample_uuid TEXT, labelset TEXT,"
        " payload_hash BLOB, uploaded_at REAL, PRIMARY KEY (host, sample_uuid, labelset))"
    )
    db.execute("INSERT INTO uploaded VALUES ('http://h', 'u', 'ls', x'00', 1.0)")
    db.commit()
    db.close()
    with Journal(path) as j:
        assert j.count() == 0
        j.record("ds", "u", "ls", b"d" * 16, "PRELABELED", None)
    with Journal(path) as j:
        assert j.count("ds") == 1

"""Fixtures of the sequence tests; helpers live in ``seqkit.py``.

A real sandbox seeded with an ``image-vector-sequence`` dataset (``test/video``)
and a ``pointcloud-cuboid-sequence`` dataset (``test/lidar``), whose samples
carry ``frames`` in their attributes as the platform's do; the CLI runs as a
subprocess against it.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from seqkit import SeqEnv, manifest

from upload_preds.sandbox import start_sandbox


@pytest.fixture
def seq_env(tmp_path: Path) -> Iterator[SeqEnv]:
    key = "sk-test-" + secrets.token_hex(12)
    handle = start_sandbox(data=manifest(), db=tmp_path / "sandbox.db", api_key=key)
    try:
        yield SeqEnv(handle, key, tmp_path / "journal.sqlite3", tmp_path)
    finally:
        handle.stop()

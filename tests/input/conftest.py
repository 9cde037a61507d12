"""Fixtures of the input-layer tests; helpers live in ``inputkit.py``.

pytest runs with ``--import-mode=importlib``, which does not put test
directories on ``sys.path``: this conftest adds its own directory so the test
modules can ``import inputkit``.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

Writer = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """write(name, content, gz=False) -> path: a file in tmp_path, gzip-compressed on request."""

    def _write(name: str, content: bytes | str, gz: bool = False) -> Path:
        data = content.encode("utf-8") if isinstance(content, str) else content
        path = tmp_path / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return _write

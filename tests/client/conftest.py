"""Fixtures of the client tests: the scriptable server of ``tests/engine/enginekit.py``
(its folder is put on ``sys.path``; pytest runs with ``--import-mode=importlib``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))

from enginekit import ScriptServer


@pytest.fixture
def server() -> Iterator[ScriptServer]:
    srv = ScriptServer()
    try:
        yield srv
    finally:
        srv.stop()

"""Fixtures of the engine tests; the server and helpers live in ``enginekit.py``.

pytest runs with ``--import-mode=importlib``, which does not put test
directories on ``sys.path``: this conftest adds its own directory so the test
modules can ``import enginekit``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from enginekit import ScriptServer


@pytest.fixture
def server() -> Iterator[ScriptServer]:
    srv = ScriptServer()
    try:
        yield srv
    finally:
        srv.stop()

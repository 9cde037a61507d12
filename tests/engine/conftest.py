"""Fixtures of the engine tests; the server and helpers live in ``enginekit.py``.

pytest runs with ``--import-mode=importlib``, which does not put test
directories on ``sys.path``: this conftest adds its own directory so the test
modules can ``import enginekit``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from enginekit import server  # the fixture

__all__ = ["server"]

"""Fixtures of the client tests: the scriptable server of ``tests/engine/enginekit.py``
(its folder is put on ``sys.path``; pytest runs with ``--import-mode=importlib``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))

from enginekit import server  # the fixture

__all__ = ["server"]

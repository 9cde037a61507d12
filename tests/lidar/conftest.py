"""Fixtures of the point-cloud vector and multi-sensor tests; helpers live in ``lidarkit.py``.

pytest runs with ``--import-mode=importlib``: this conftest puts its own
directory on ``sys.path`` so the test modules can ``import lidarkit``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

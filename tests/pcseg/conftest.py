"""Fixtures of the point-cloud segmentation tests; helpers live in ``pcsegkit.py``.

This directory is put on ``sys.path`` so the test modules can ``import pcsegkit``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

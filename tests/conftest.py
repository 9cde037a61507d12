"""Fixtures shared by several test folders; this folder is put on ``sys.path`` so that
the kits every folder uses (``clikit``) import by name (``--import-mode=importlib``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: writing more into it fails with ENOSPC, as on a full disk.

    Mounting needs root (the test machines run as root); elsewhere the tests
    that need a full disk are skipped.
    """
    path = tmp_path / "disk"
    path.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc}); needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)

"""Fixtures of the journal tests: they reuse the sandbox kit of ``tests/preflight``
(put on ``sys.path`` here; pytest runs with ``--import-mode=importlib``)."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "preflight"))

from preflightkit import manifest

from upload_preds.sandbox import SandboxHandle, start_sandbox


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Callable[..., SandboxHandle]]:
    """Start a sandbox on ``db`` (default: a file in tmp_path); stopped at the end."""
    handles: list[SandboxHandle] = []

    def _make(n: int, seeded: dict[int, str] | None = None, **kwargs: Any) -> SandboxHandle:
        kwargs.setdefault("db", tmp_path / "sandbox.db")
        kwargs.setdefault("api_key", "sk-test-" + secrets.token_hex(12))
        handle = start_sandbox(data=manifest(n, seeded), **kwargs)
        handles.append(handle)
        return handle

    yield _make
    for h in handles:
        h.stop()

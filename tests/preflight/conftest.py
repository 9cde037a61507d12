"""Fixtures of the guard (preflight) tests; the proxy and the CLI runner live in
``preflightkit.py``. This conftest puts its own directory on ``sys.path`` (pytest
runs with ``--import-mode=importlib``) so the tests can ``import preflightkit``.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))  # enginekit's ScriptServer

from enginekit import server  # the fixture
from preflightkit import CappingProxy, manifest

from upload_preds.sandbox import SandboxHandle, start_sandbox


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Callable[..., SandboxHandle]]:
    handles: list[SandboxHandle] = []

    def _make(n: int, seeded: dict[int, str] | None = None, **kwargs: Any) -> SandboxHandle:
        handle = start_sandbox(
            data=manifest(n, seeded),
            db=kwargs.pop("db", tmp_path / f"sandbox{len(handles)}.db"),
            api_key="sk-test-" + secrets.token_hex(12),
            **kwargs,
        )
        handles.append(handle)
        return handle

    yield _make
    for h in handles:
        h.stop()


@pytest.fixture
def make_proxy() -> Iterator[Callable[..., CappingProxy]]:
    proxies: list[CappingProxy] = []

    def _make(target: str, **kwargs: Any) -> CappingProxy:
        proxy = CappingProxy(target, **kwargs)
        proxies.append(proxy)
        return proxy

    yield _make
    for p in proxies:
        p.stop()


__all__ = ["make_proxy", "make_sandbox", "server"]

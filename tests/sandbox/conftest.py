"""Fixtures of the sandbox tests: in-process sandboxes and subprocess sandboxes.

Every sandbox binds port 0 (a free port chosen by the OS) and is stopped in
teardown; subprocesses are waited for through their ``--ready-file`` and
killed if SIGTERM does not stop them. Manifests and the process runner live
in ``sandboxkit.py`` (this directory is put on ``sys.path`` for it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sandboxkit import DEMO, KEY, ProcessFactory, Running, both_manifests, running_sandbox

from upload_preds.sandbox import SandboxHandle, start_sandbox


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """A fresh in-memory sandbox with the demo and the segmentation dataset."""
    with start_sandbox(data=both_manifests(), api_key=KEY) as handle:
        yield handle


@pytest.fixture
def running() -> Iterator[Running]:
    """A fresh sandbox and a raw-socket client's sockets, closed in teardown."""
    with running_sandbox() as r:
        yield r


@pytest.fixture
def demo_samples() -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = json.loads(DEMO.read_text(encoding="utf-8"))["datasets"][0][
        "samples"
    ]
    return samples


@pytest.fixture
def sandbox_proc(tmp_path: Path) -> Iterator[ProcessFactory]:
    factory = ProcessFactory(tmp_path)
    try:
        yield factory
    finally:
        for p in factory.started:
            p.stop()

"""Helpers of the sandbox tests: test manifests and a runner for the CLI as a subprocess.

pytest runs with ``--import-mode=importlib``; ``conftest.py`` puts this
directory on ``sys.path`` so test modules can ``import sandboxkit``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "sample_data" / "dataset.json"
KEY = "test-key-0123"
DEMO_DS = "demo/street-scenes"
SEG_DS = "demo/masks"


def seg_manifest() -> dict[str, Any]:
    """A small segmentation-bitmap dataset (the uploader's mask path needs one)."""
    cats = [
        {"id": 1, "name": "road", "attributes": [{"name": "wet", "input_type": "checkbox"}]},
        {"id": 2, "name": "car"},
    ]
    samples = [
        {
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mask-{i}")),
            "name": f"mask_{i:02d}.png",
            "attributes": {"image": {"url": f"https://example.com/{i}.png"}},
            "metadata": {},
        }
        for i in range(3)
    ]
    return {
        "datasets": [
            {
                "owner": "demo",
                "name": "masks",
                "task_type": "segmentation-bitmap",
                "task_attributes": {"format_version": "0.1", "categories": cats},
                "labelsets": [{"name": "ground-truth"}, {"name": "model"}],
                "samples": samples,
            }
        ]
    }


def both_manifests() -> dict[str, Any]:
    demo = json.loads(DEMO.read_text(encoding="utf-8"))
    return {"datasets": demo["datasets"] + seg_manifest()["datasets"]}


def merged_env(changes: dict[str, str | None] | None) -> dict[str, str]:
    """os.environ with ``changes`` applied; a None value removes the variable."""
    env = dict(os.environ)
    for k, v in (changes or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


@dataclass
class SandboxProcess:
    proc: subprocess.Popen[str]
    url: str
    ready: dict[str, Any]
    stderr_path: Path
    key: str = KEY

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")


@dataclass
class ProcessFactory:
    tmp: Path
    started: list[SandboxProcess] = field(default_factory=list)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "upload_preds.sandbox.cli", *args]

    def start(
        self,
        *args: str,
        env: dict[str, str | None] | None = None,
        with_key: bool = True,
        command: tuple[str, ...] = ("serve",),
    ) -> SandboxProcess:
        ready = self.tmp / f"ready-{len(self.started)}.json"
        err = self.tmp / f"stderr-{len(self.started)}.txt"
        argv = [*command, "--port", "0", "--ready-file", str(ready), *args]
        if with_key:
            argv += ["--api-key", KEY]
        full_env = merged_env(env)
        with err.open("w", encoding="utf-8") as err_file:
            proc = subprocess.Popen(
                self.command(*argv),
                stderr=err_file,
                stdout=subprocess.DEVNULL,
                env=full_env,
                text=True,
            )
        handle = SandboxProcess(proc, "", {}, err)
        self.started.append(handle)
        deadline = time.monotonic() + 30
        while not ready.exists():
            if proc.poll() is not None:
                raise AssertionError(f"sandbox exited early: {err.read_text(encoding='utf-8')}")
            if time.monotonic() > deadline:
                raise AssertionError("sandbox did not become ready within 30 s")
            time.sleep(0.02)
        handle.ready = json.loads(ready.read_text(encoding="utf-8"))
        handle.url = handle.ready["url"]
        return handle

    def run(
        self, *args: str, env: dict[str, str | None] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the command to completion (for invocations that must fail fast)."""
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            timeout=60,
            env=merged_env(env),
        )

"""Helpers of the sandbox tests: test manifests, a runner for the CLI as a subprocess, and
a raw-socket HTTP/1.1 client for the tests of what is on the wire.

pytest runs with ``--import-mode=importlib``; ``conftest.py`` puts this
directory on ``sys.path`` so test modules can ``import sandboxkit``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from manifestkit import dataset_manifest, sample, sample_uuid
from upload_preds.sandbox import SandboxHandle, start_sandbox

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
    samples = [sample(sample_uuid("mask", str(i)), f"mask_{i:02d}.png") for i in range(3)]
    return dataset_manifest(
        SEG_DS, "segmentation-bitmap", samples, categories=cats, labelsets=("ground-truth", "model")
    )


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


# -- raw HTTP/1.1 over sockets -------------------------------------------------------------

SAMPLES = [s["uuid"] for s in both_manifests()["datasets"][0]["samples"]]
LABEL = orjson.dumps(
    {
        "attributes": {
            "format_version": "0.1",
            "annotations": [
                {"id": 1, "category_id": 1, "type": "bbox", "points": [[1, 2], [3, 4]]}
            ],
        }
    }
)


@dataclass
class Running:
    sb: SandboxHandle
    sockets: list[socket.socket] = field(default_factory=list)

    @property
    def port(self) -> int:
        return urlsplit(self.sb.url).port or 80

    def connect(self) -> socket.socket:
        """A client socket, closed when the test ends."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.sockets.append(sock)
        return sock

    def label_count(self) -> int:
        """Labels in the label set the tests write to (the manifest seeds none there)."""
        counts: dict[str, dict[str, int]] = self.sb.stats()["labels"]["demo/street-scenes"]
        return sum(counts.get("predictions", {}).values())


@contextlib.contextmanager
def running_sandbox(**kwargs: Any) -> Iterator[Running]:
    with start_sandbox(data=both_manifests(), api_key=KEY, **kwargs) as sb:
        r = Running(sb)
        try:
            yield r
        finally:
            for s in r.sockets:
                s.close()
            assert sb.stats()["server_errors"] == 0


def read_response(s: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response off the socket (Content-Length framing); leftovers stay in ``buf``."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a full answer")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        rest += chunk
    buf[:] = rest[length:]
    return status, headers, rest[:length]


def closed(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def request(method: str, path: str, body: bytes = b"", key: bool = True, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if key:
        lines.append(f"Authorization: APIKey {KEY}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def put_label(sample: str = SAMPLES[0], body: bytes = LABEL, **headers: str) -> bytes:
    return request("PUT", f"/labels/{sample}/predictions/", body, **headers)

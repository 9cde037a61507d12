"""The environment kit the detector-format and the mask tests share: a sandbox, the real CLI.

A test gets a :class:`SandboxEnv` (a subclass names the dataset it uploads
to): an in-process sandbox seeded with one dataset from
:func:`dataset_manifest` (built with ``tests/manifestkit.py``), a fresh API key, and a temporary folder. ``run``
starts the uploader as ``python -m upload_preds`` in a subprocess with that key
and the sandbox's URL in its environment only, so exit codes, output and the
journal are the real ones; ``label`` reads a stored label back over HTTP.

pytest runs with ``--import-mode=importlib``: ``tests/formats/conftest.py``
and ``tests/masks/conftest.py`` put this directory on ``sys.path`` so they can
``import formatskit``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx

import manifestkit
from clikit import Result, cli_env, run_cli
from manifestkit import sample, sample_uuid
from upload_preds.sandbox import SandboxHandle, start_sandbox


def dataset_manifest(
    *,
    name: str,
    task_type: str,
    format_version: str,
    categories: list[dict[str, Any]],
    samples: list[str],
    namespace: str,
    asset: str = "image",
) -> dict[str, Any]:
    """A sandbox manifest of one dataset ``test/<name>`` with an empty ground-truth label set.

    ``asset`` is the key of each sample's attributes (``image``, ``pcd``).
    """
    return manifestkit.dataset_manifest(
        f"test/{name}",
        task_type,
        [sample(sample_uuid(namespace, n), n, asset=asset) for n in samples],
        categories=categories,
        format_version=format_version,
    )


@dataclass
class SandboxEnv:
    """A running sandbox, its key and a working folder; subclasses set the two ClassVars."""

    DATASET: ClassVar[str]  # "owner/name", given to every run
    NAMESPACE: ClassVar[str]  # of the samples' uuids (see sample_uuid)

    sandbox: SandboxHandle
    key: str
    tmp: Path

    def run(self, *args: str | Path) -> Result:
        state = str(self.tmp / "journal.sqlite3")
        return run_cli(
            [*map(str, args), "--dataset", self.DATASET, "--state", state, "--json"],
            env=cli_env(self.sandbox.url, self.key),
            cwd=self.tmp,
            timeout=120,
        )

    def label(self, name: str) -> dict[str, Any] | None:
        """The sample's ground-truth label as the API returns it, or None when it has none."""
        url = f"{self.sandbox.url}labels/{sample_uuid(self.NAMESPACE, name)}/ground-truth/"
        r = httpx.get(url, headers={"Authorization": f"APIKey {self.key}"})
        if r.status_code == 404:
            return None
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data


E = TypeVar("E", bound=SandboxEnv)


@contextmanager
def running_env(env_type: type[E], manifest: dict[str, Any], tmp: Path) -> Iterator[E]:
    """An ``env_type`` on a fresh sandbox seeded with ``manifest`` (its db in ``tmp``)."""
    key = "sk-test-" + secrets.token_hex(8)
    handle = start_sandbox(data=manifest, db=tmp / "sandbox.db", api_key=key)
    try:
        yield env_type(handle, key, tmp)
    finally:
        handle.stop()

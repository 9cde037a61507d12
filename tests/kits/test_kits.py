"""The kits every test folder shares (tests/manifestkit.py, threadserver.py, clikit.py).

Checked against real servers: a manifest the kit builds is what the sandbox
serves and the official SDK reads back (its models validate every sample and
label); a thread server answers over a real socket and frees its port when
stopped; the CLI runner's environment lets a test override the key.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiohttp import web
from segments import SegmentsClient
from segments.exceptions import NotFoundError

from clikit import Cli, cli_env, write_jsonl
from manifestkit import dataset_manifest, sample, sample_uuid, seeded_samples
from threadserver import ThreadServer
from upload_preds.sandbox import start_sandbox

KEY = "sk-test-kits"


def _manifest() -> dict[str, object]:
    box = {"id": 1, "category_id": 1, "type": "bbox", "points": [[1, 1], [9, 9]]}
    samples = seeded_samples(
        4, lambda i: sample_uuid("kits", str(i)), lambda i: f"{i}.jpg", {1: "REVIEWED"}, [box]
    )
    samples.append(sample(sample_uuid("kits", "scan"), "scan.pcd", asset="pcd"))
    return dataset_manifest(
        "test/kits",
        "vector",
        samples,
        categories=[{"id": 1, "name": "car"}],
        labelsets=("ground-truth", "predictions"),
    )


def test_a_kit_manifest_is_served_and_read_back_by_the_sdk(tmp_path: Path) -> None:
    with start_sandbox(data=_manifest(), db=tmp_path / "s.db", api_key=KEY) as sb:
        sdk = SegmentsClient(KEY, api_url=sb.url.rstrip("/"))
        names = sorted(s.name for s in sdk.get_samples("test/kits"))
        assert names == ["0.jpg", "1.jpg", "2.jpg", "3.jpg", "scan.pcd"]
        assert {ls.name for ls in sdk.get_labelsets("test/kits")} == {"ground-truth", "predictions"}
        label = sdk.get_label(sample_uuid("kits", "1"), "ground-truth")
        assert label.label_status == "REVIEWED"
        assert [a.category_id for a in label.attributes.annotations] == [1]
        with pytest.raises(NotFoundError):
            sdk.get_label(sample_uuid("kits", "0"), "ground-truth")


def test_a_thread_server_answers_on_a_real_socket_and_frees_its_port() -> None:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(f"{request.method} {request.path}")
        return web.json_response({"ok": True})

    server = ThreadServer(handler)
    port = server.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /x/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        answer = conn.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 200")
    assert seen == ["GET /x/"]
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_the_cli_runner_runs_against_a_sandbox_and_lets_a_test_override_the_key(
    tmp_path: Path,
) -> None:
    assert cli_env("http://x/", "k", SEGMENTS_API_KEY="")["SEGMENTS_API_KEY"] == ""
    with start_sandbox(data=_manifest(), db=tmp_path / "s.db", api_key=KEY) as sb:
        rows = [
            {"sample_name": "2.jpg", "annotations": [{"category": "car", "bbox": [1, 2, 9, 9]}]}
        ]
        preds = write_jsonl(tmp_path / "p.jsonl", rows)
        cli = Cli(sb.url, KEY, tmp_path / "j.sqlite3", tmp_path)
        res = cli.run(preds, "--dataset", "test/kits", "--labelset", "predictions", "--json")
        assert res.code == 0, res.stderr
        assert res.report()["counts"]["uploaded"] == 1
        refused = cli.run(preds, "--dataset", "test/kits", SEGMENTS_API_KEY="sk-wrong")
        assert refused.code == 3, refused.stderr

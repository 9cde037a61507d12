"""``upload-preds-sandbox`` as a real subprocess: the start line and the key's source,
the ready file, clean shutdown on SIGTERM and SIGINT, restart on the same db,
a bare invocation serving, and exit code 2 with one clear message for every bad
flag or manifest.
"""

from __future__ import annotations

import json
import re
import signal
import socket
from pathlib import Path

import httpx
import pytest
from sandboxkit import DEMO, DEMO_DS, KEY, ProcessFactory

KEY_ENV = "UPLOAD_PREDS_SANDBOX_KEY"


def get(url: str, path: str, key: str) -> httpx.Response:
    return httpx.get(url + path, headers={"Authorization": f"APIKey {key}"}, timeout=10)


def test_env_key_is_used_and_not_printed(sandbox_proc: ProcessFactory, tmp_path: Path) -> None:
    db = tmp_path / "db" / "s.sqlite3"
    p = sandbox_proc.start("--db", str(db), env={KEY_ENV: "from-env-123"}, with_key=False)
    assert get(p.url, "api_status/", "from-env-123").status_code == 200
    assert get(p.url, "api_status/", KEY).status_code == 401
    assert p.stop() == 0
    err = p.stderr()
    line = err.splitlines()[0]
    assert p.url in line
    assert str(db) in line
    assert f"key from ${KEY_ENV}" in line
    assert "from-env-123" not in err
    assert err.splitlines()[-1].endswith("stopped")
    assert p.ready["key_source"] == "environment"


def test_generated_key_is_printed_once_and_works(sandbox_proc: ProcessFactory) -> None:
    p = sandbox_proc.start("--db", ":memory:", env={KEY_ENV: None}, with_key=False)
    m = re.search(r"key (\S+) \(generated", p.stderr())
    assert m is not None
    assert get(p.url, f"datasets/{DEMO_DS}/", m.group(1)).status_code == 200
    assert p.stderr().count(m.group(1)) == 1


def test_flag_key_is_not_printed(sandbox_proc: ProcessFactory) -> None:
    p = sandbox_proc.start("--db", ":memory:", "--latency-ms", "5", "--seed", "9")
    err = p.stderr()
    assert "key from --api-key" in err
    assert KEY not in err
    assert "latency_ms=5.0" in err
    assert "seed=9" in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_and_restart_keeps_data(
    sandbox_proc: ProcessFactory, tmp_path: Path, sig: signal.Signals
) -> None:
    db = tmp_path / "s.sqlite3"
    p = sandbox_proc.start("--db", str(db))
    r = httpx.post(
        f"{p.url}datasets/{DEMO_DS}/labelsets/",
        json={"name": "kept", "description": "d"},
        headers={"Authorization": f"APIKey {KEY}"},
        timeout=10,
    )
    assert r.status_code == 201
    p.proc.send_signal(sig)
    assert p.proc.wait(timeout=15) == 0
    assert "Traceback" not in p.stderr()
    # Checkpointed on the way out: the WAL is empty or gone.
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    again = sandbox_proc.start("--db", str(db))
    names = [ls["name"] for ls in get(again.url, f"datasets/{DEMO_DS}/labelsets/", KEY).json()]
    assert names == ["ground-truth", "predictions", "kept"]
    assert "seeded 0 datasets, 0 label sets, 0 samples, 0 labels" in again.stderr()


def test_bare_invocation_serves(sandbox_proc: ProcessFactory) -> None:
    p = sandbox_proc.start("--db", ":memory:", command=())
    assert get(p.url, "api_status/", KEY).status_code == 200


def test_max_page_size_flag_caps_pages(sandbox_proc: ProcessFactory) -> None:
    p = sandbox_proc.start("--db", ":memory:", "--max-page-size", "10")
    r = get(p.url, f"datasets/{DEMO_DS}/samples/?per_page=1000&sort=name", KEY)
    assert r.status_code == 200
    assert len(r.json()) == 10
    r = get(p.url, f"datasets/{DEMO_DS}/samples/?per_page=1000&sort=name&page=3", KEY)
    assert len(r.json()) == 4


def test_help_lists_serve(sandbox_proc: ProcessFactory) -> None:
    r = sandbox_proc.run("--help")
    assert r.returncode == 0
    assert "serve" in r.stdout
    r = sandbox_proc.run("serve", "--help")
    assert r.returncode == 0
    assert "--throttle-rps" in r.stdout


def busy_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "files", "fragment"),
    [
        pytest.param(["--error-rate", "2"], {}, "--error-rate", id="error-rate-range"),
        pytest.param(["--port", "http"], {}, "--port", id="port-not-int"),
        pytest.param(["--max-page-size", "0"], {}, "--max-page-size", id="page-size-zero"),
        pytest.param(["--bogus"], {}, "--bogus", id="unknown-flag"),
        pytest.param(["--error-rate", "0.6", "--drop-rate", "0.6"], {}, "together", id="rates-sum"),
        pytest.param(["--data", "{tmp}/missing.json"], {}, "no such file", id="missing-data"),
        pytest.param(
            ["--data", "{tmp}/broken.json"],
            {"broken.json": '{"datasets": [\n  {"owner": }\n]}'},
            "broken.json:2:",
            id="bad-json-line",
        ),
        pytest.param(
            ["--data", "{tmp}/wrong.json"],
            {"wrong.json": json.dumps({"datasets": [{"owner": "a", "name": "b"}]})},
            "datasets[0].task_type",
            id="bad-manifest-path",
        ),
        pytest.param(
            ["--db", "{tmp}/notadb.sqlite3"],
            {"notadb.sqlite3": "this is not a database, just text " * 50},
            "notadb.sqlite3",
            id="not-a-db",
        ),
    ],
)
def test_bad_usage_exits_2_without_traceback(
    sandbox_proc: ProcessFactory,
    tmp_path: Path,
    args: list[str],
    files: dict[str, str],
    fragment: str,
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--db" not in argv:
        argv += ["--db", ":memory:"]
    if "--data" not in argv:
        argv += ["--data", str(DEMO)]
    r = sandbox_proc.run("serve", "--port", "0", *argv)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert fragment in r.stderr


def test_busy_port_exits_2(sandbox_proc: ProcessFactory) -> None:
    s, port = busy_port()
    try:
        r = sandbox_proc.run("serve", "--port", str(port), "--db", ":memory:", "--api-key", KEY)
    finally:
        s.close()
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"127.0.0.1:{port}" in r.stderr

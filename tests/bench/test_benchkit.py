"""The benchmarks' shared kit (bench/benchkit.py) and the scripts that use it.

The kit is measured by real child processes and a real sandbox: a child's peak
RSS is its own (not this process's), a child that writes more to stderr than a
pipe holds still finishes (the scripts' old copies waited on the child before
reading its pipe), and every script under bench/ offers ``--quick`` and is
listed by ``run_all.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import benchkit  # noqa: E402  (bench/ is not a package: its folder goes on sys.path first)


def test_a_childs_peak_rss_and_cpu_are_its_own() -> None:
    grow = "b = bytearray(160 * 2**20); b[::4096] = b'x' * len(b[::4096])"
    small = benchkit.run_child([sys.executable, "-c", "pass"])
    big = benchkit.run_child([sys.executable, "-c", grow])
    # This test process is far bigger than a bare interpreter: none of it is counted.
    assert small.rss_mib < benchkit.peak_rss_mib() / 2
    assert big.rss_mib - small.rss_mib > 120
    assert big.code == 0
    assert big.cpu > 0


def test_a_child_that_fills_its_stderr_pipe_still_finishes() -> None:
    # 1 MB on stderr is more than a pipe buffer: a parent that waits for the
    # child before reading the pipe would wait forever.
    noisy = "import sys; sys.stderr.write('x' * 2**20); print('done')"
    child = benchkit.run_child([sys.executable, "-c", noisy], stdout=True)
    assert child.stdout.strip() == b"done"


def test_a_failing_child_ends_the_benchmark_with_its_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit, match=r"command failed \(3\)"):
        benchkit.run_child(
            [sys.executable, "-c", "import sys; print('why', file=sys.stderr); sys.exit(3)"]
        )
    assert "why" in capsys.readouterr().err
    assert benchkit.run_child([sys.executable, "-c", "raise SystemExit(1)"], ok=(0, 1)).code == 1


def test_the_sandbox_subprocess_serves_the_manifest_and_stops(tmp_path: Path) -> None:
    samples = [benchkit.image_sample(benchkit.sample_uuid("t", i), f"{i}.jpg") for i in range(3)]
    data = tmp_path / "m.json"
    data.write_text(json.dumps(benchkit.dataset_manifest("t", "vector", ["car"], samples)))
    proc, url = benchkit.start_sandbox(tmp_path, key="k", data=data)
    try:
        req = urllib.request.Request(
            url + "datasets/bench/t/samples/", headers={"Authorization": "APIKey k"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            names = sorted(s["name"] for s in json.load(resp))
        assert names == ["0.jpg", "1.jpg", "2.jpg"]
    finally:
        benchkit.stop(proc)
    assert proc.returncode is not None


def test_every_script_has_a_quick_mode_and_is_run_by_run_all() -> None:
    import run_all

    scripts = sorted(p.stem.removeprefix("bench_") for p in BENCH.glob("bench_*.py"))
    assert sorted(run_all.ORDER) == scripts
    for name in scripts:
        out = subprocess.run(
            [sys.executable, str(BENCH / f"bench_{name}.py"), "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, (name, out.stderr[-2000:])
        assert "--quick" in out.stdout, name

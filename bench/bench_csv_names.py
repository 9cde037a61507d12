"""Cost of resolving the sample names of a CSV's lines as they are grouped (online dry run).

Since commit f27f549 ("duplicates after name resolution"), once the dry run
knows the dataset's samples, each line of a name-keyed CSV file joins the
label of the uuid its name resolves to: its group key is decoded, resolved and
encoded again (``Preparer._group_key``), so that lines of one sample that name
it by name and by uuid are one label. This measures what that costs a whole
``upload-preds FILE --dry-run`` against a sandbox holding the dataset, as CPU
seconds of the child process (its own ``wait4`` figures), three sides
alternated in one run, median of ``--runs`` each:

* ``without``: this checkout, with ``_group_key`` put back to what it was
  before that commit (the key ``csv_part`` gave, unless the name has spaces
  around it): the same code in every other respect, so the ratios to it are
  the step's cost alone;
* ``keys``: this checkout, with the step done as f27f549 did it (a
  :class:`LabelKey` decoded, resolved and encoded: 1.9 µs a line);
* ``with``: this checkout as it is (``labelkey.resolved_group``: 0.7 µs);
* ``before``: the ``src`` tree of ``--before`` (default ``f27f549^``, the
  commit before), for reference: it also differs in everything else merged
  since, so its ratio is not this step's.

The CSV has ``--lines`` box lines (default 100,000; five a sample), named by
``sample_name``, in shuffled order; a uuid-keyed copy is timed the same way as
a control (``_group_key`` does nothing more for it, so its ratios show the
noise). The cost is negligible when the median ``with / without`` ratio of the
name-keyed file is under 1.03.

Usage: ``python bench/bench_csv_names.py [--quick] [--lines N] [--runs N] [--before REV]``.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson

from benchkit import (
    arguments,
    best_of,
    dataset_manifest,
    dry_run_command,
    image_sample,
    run_child,
    sample_uuid,
    sandbox_env,
    source_tree,
    start_sandbox,
    stop,
)
from upload_preds.labelkey import LabelKey, resolved_group

KEY = "bench-csv-names-key"
NAMES = ["car", "truck", "pedestrian", "cyclist"]
DATASET = "csvnames"
#: The commit before names were resolved while CSV lines are grouped.
BEFORE = "f27f549^"

# ``upload-preds`` with Preparer._group_key replaced by one of these (argv[1] names it).
_PATCHED = """
import sys
from upload_preds.labelkey import LabelKey
from upload_preds.pipeline import Preparer

def without(self, part, cells):  # before f27f549: no resolution while grouping
    name = cells.get("sample_name")
    if name and (name[0].isspace() or name[-1].isspace()):
        return LabelKey.of_group(part[0]).group
    return part[0]

def keys(self, part, cells):  # f27f549: through two LabelKey tuples
    key = part[0]
    name = cells.get("sample_name")
    if name and (self.resolve is not None or name[0].isspace() or name[-1].isspace()):
        key = LabelKey.of_group(key).resolved(self.resolve).group
    return key

Preparer._group_key = {"without": without, "keys": keys}[sys.argv.pop(1)]
from upload_preds.cli import main
sys.argv[0] = "upload-preds"
main()
"""


def write_csv(path: Path, lines: int, *, by_name: bool, seed: int = 3) -> None:
    """``lines`` box lines, five a sample, shuffled; the sample by name or by uuid."""
    rng = random.Random(seed)
    order = list(range(lines))
    rng.shuffle(order)
    samples = max(1, lines // 5)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(
            ("sample_name" if by_name else "sample_uuid") + ",category,xmin,ymin,xmax,ymax,score\n"
        )
        for k in order:
            s = k % samples
            ref = f"img_{s:06d}.jpg" if by_name else sample_uuid(DATASET, s)
            x, y = (k * 37) % 500, (k * 17) % 300
            f.write(
                f"{ref},{NAMES[k % len(NAMES)]},{x},{y},{x + 50},{y + 40},{(k % 997) / 997:.3f}\n"
            )


def cpu_of(args: Sequence[str], env: Mapping[str, str]) -> float:
    return run_child(args, env=env).cpu


def step_alone(lines: int, samples: int, dry_cpu: float) -> None:
    """The step in this process, best of 5 per way: µs a line and its share of the dry run.

    Whole dry runs vary by several percent between runs on a shared machine
    (the uuid file's ratios show how much), more than this step costs; the
    step timed alone, against the dry run's CPU, is the robust figure.
    """
    names = [f"img_{i % samples:06d}.jpg" for i in range(lines)]
    index = {f"img_{i:06d}.jpg": sample_uuid(DATASET, i) for i in range(samples)}
    keys = [orjson.dumps(["ground-truth", "n", n]).decode() for n in names]

    def by_keys() -> None:
        for k in keys:
            LabelKey.of_group(k).resolved(index.get).group  # noqa: B018 (the work timed)

    def fast() -> None:
        for k in keys:
            resolved_group(k, index.get)

    def floor() -> None:
        for _ in keys:
            pass

    base = best_of(floor, 5)
    print(f"the step alone, over the {lines:,} name keys (dry run with it: {dry_cpu:.2f} s CPU):")
    for label, fn in (("keys (f27f549)", by_keys), ("resolved_group", fast)):
        cost = best_of(fn, 5) - base
        print(
            f"  {label:15s} {cost / lines * 1e6:5.2f} µs a line, {cost:.3f} s"
            f" = {cost / dry_cpu:.1%} of the dry run's CPU"
        )


def main() -> None:
    parser = arguments(__doc__, "5,000 lines, two runs: checks the script, not the ratio")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", default=BEFORE, help="git revision of the reference side")
    ns = parser.parse_args()
    lines, runs = (5_000, 2) if ns.quick else (ns.lines, ns.runs)
    samples = max(1, lines // 5)
    with tempfile.TemporaryDirectory(prefix="bench-csv-names-") as tmp_name:
        tmp = Path(tmp_name)
        manifest = tmp / "manifest.json"
        ds = dataset_manifest(
            DATASET,
            "bboxes",
            NAMES,
            [image_sample(sample_uuid(DATASET, i), f"img_{i:06d}.jpg") for i in range(samples)],
        )
        manifest.write_text(json.dumps(ds))
        files = {"name": tmp / "by-name.csv", "uuid": tmp / "by-uuid.csv"}
        write_csv(files["name"], lines, by_name=True)
        write_csv(files["uuid"], lines, by_name=False)
        before_src = source_tree(ns.before, tmp / "before")
        server, url = start_sandbox(tmp, key=KEY, data=manifest)
        try:
            env = sandbox_env(KEY, url)
            before_env = {**env, "PYTHONPATH": str(before_src)}
            flags = ("--dataset", f"bench/{DATASET}", "--labelset", "ground-truth")
            print(f"{lines:,} CSV lines, {samples:,} samples; median CPU of {runs} runs each")
            print(
                f"{'file':6s} {'without':>8s} {'keys':>8s} {'with':>8s} {'before':>8s}"
                "  keys/without  with/without  with/before"
            )
            dry_cpu: dict[str, float] = {}
            for kind, path in files.items():
                cmd = dry_run_command(path, *flags)
                patched = [sys.executable, "-c", _PATCHED]
                sides = {
                    "without": ([*patched, "without", *cmd[3:]], env),
                    "keys": ([*patched, "keys", *cmd[3:]], env),
                    "with": (cmd, env),
                    "before": (cmd, before_env),
                }
                for args, side_env in sides.values():
                    cpu_of(args, side_env)  # warm: .pyc files, the page cache
                times: dict[str, list[float]] = {s: [] for s in sides}
                for _ in range(runs):
                    for side, (args, side_env) in sides.items():
                        times[side].append(cpu_of(args, side_env))
                m = {s: statistics.median(t) for s, t in times.items()}
                dry_cpu[kind] = m["with"]
                print(
                    f"{kind:6s} {m['without']:7.2f}s {m['keys']:7.2f}s {m['with']:7.2f}s"
                    f" {m['before']:7.2f}s  {m['keys'] / m['without']:12.3f}"
                    f"  {m['with'] / m['without']:12.3f}  {m['with'] / m['before']:11.3f}"
                )
        finally:
            stop(server)
        step_alone(lines, samples, dry_cpu["name"])


if __name__ == "__main__":
    main()

"""The one-pass dry run gives exactly the outcomes of the two-pass way.

``Preparer.single_pass`` reads the input once, yields labels before it knows
whether their rows are duplicates, holds failures back, and at the end takes
back (``on_retract``) the labels of rows that turned out to be duplicates.
These tests run both ways over the same files and compare everything a run
sees: the labels that stand, every failure in order (errors and raw rows),
the skips, the notices and the plan's counts. Then the same at the level of a
whole offline run: ``--dry-run`` (one pass) against ``--output-labels`` (two
passes), report and failures files. And the hash sieve on its own.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.dedupe import SIEVE_PARTS, HashSieve
from upload_preds.labeloutcomes import OnDuplicate
from upload_preds.pipeline import Preparer
from upload_preds.plan import Tally
from upload_preds.records import Failure, LabelJob, Notice, Skip
from upload_preds.run import Run
from upload_preds.runinputs import RunInputs
from upload_preds.settings import Settings

CATS = Categories([(1, "car"), (2, "truck")])
SAMPLE_CATS = Path(__file__).parents[2] / "sample_data" / "categories.json"


def row(ref: Any, *, key: str = "sample_uuid", cat: str = "car", **extra: Any) -> str:
    data: dict[str, Any] = {key: ref, "annotations": [{"category": cat, "bbox": [1.0, 2, 3, 4]}]}
    data.update(extra)
    return json.dumps(data)


def lines(*rows: str) -> str:
    return "".join(r + "\n" for r in rows)


CSV_HEADER = "sample_uuid,category,x0,y0,x1,y1\n"

# (id, {file name: content}, file order): every file is read in the order given.
SCENARIOS: list[tuple[str, dict[str, str], list[str]]] = [
    (
        "no duplicates, good and bad rows",
        {
            "a.jsonl": lines(row("u1"), row("u2", cat="cra"), "{not json", "", row("u3"))
            + "[1, 2]\n"
        },
        ["a.jsonl"],
    ),
    ("two rows, one uuid", {"a.jsonl": lines(row("u1"), row("u2"), row("u1"))}, ["a.jsonl"]),
    (
        "three rows, one name, spaces around it",
        {
            "a.jsonl": lines(
                row("a.jpg", key="sample_name"),
                row(" a.jpg", key="sample_name"),
                row("b.jpg", key="sample_name"),
                row("a.jpg ", key="sample_name"),
            )
        },
        ["a.jsonl"],
    ),
    (
        "a duplicate that also fails conversion",
        {"a.jsonl": lines(row("u1", cat="bus"), row("u9", cat="bus"), row("u1"), row("u2"))},
        ["a.jsonl"],
    ),
    (
        "duplicates across two files",
        {"a.jsonl": lines(row("u1"), row("u2")), "b.jsonl": lines(row("u3"), row("u2"))},
        ["a.jsonl", "b.jsonl"],
    ),
    (
        "the same file twice",
        {"a.jsonl": lines(row("u1"), row("u2", cat="bus"), row("u3"))},
        ["a.jsonl", "a.jsonl"],
    ),
    (
        "label sets tell rows apart; the default named or not is the same",
        {
            "a.jsonl": lines(
                row("u1"),
                row("u1", labelset="preds"),
                row("u1", labelset="ground-truth"),
                row("u2", labelset=None),
                row("u2"),
            )
        },
        ["a.jsonl"],
    ),
    (
        "swapped label set and uuid hash alike but are no duplicates",
        {"a.jsonl": lines(row("x", labelset="y"), row("y", labelset="x"), row("x", labelset="y"))},
        ["a.jsonl"],
    ),
    (
        "a uuid and a name with the same text",
        {"a.jsonl": lines(row("same"), row("same", key="sample_name"))},
        ["a.jsonl"],
    ),
    (
        "JSONL, CSV and a JSON document, failures interleaved",
        {
            "a.jsonl": lines(row("u1"), row("u2", cat="bus"), row("u3")),
            "b.csv": CSV_HEADER + "u7,car,1,2,3,4\nu7,bus,1,2,3,4\nu8,car,1,2,3\nu9,car,1,2,3,4\n",
            "c.json": json.dumps(
                [json.loads(row("u3")), json.loads(row("u4", cat="bus")), json.loads(row("u1"))],
                indent=1,
            ),
        },
        ["a.jsonl", "b.csv", "c.json"],
    ),
    (
        "every row of the key fails to convert",
        {"a.jsonl": lines(row("u1", cat="bus"), row("u1", cat="cra"), row("u2"))},
        ["a.jsonl"],
    ),
]


@dataclass
class Seen:
    """Everything a consumer of ``Preparer.items()`` sees, in comparable form."""

    jobs: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    failures: list[tuple[Any, ...]] = field(default_factory=list)
    skips: list[tuple[Any, ...]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    retracted: int = 0

    def add(self, item: Any) -> None:
        self.tally.add(item)
        if isinstance(item, LabelJob):
            self.jobs[job_key(item)] += 1
        elif isinstance(item, Failure):
            self.failures.append(
                (tuple(str(e) for e in item.errors), tuple((str(loc), d) for loc, d in item.rows))
            )
        elif isinstance(item, Skip):
            self.skips.append((item.reason, item.message, tuple(str(loc) for loc, _ in item.rows)))
        else:
            assert isinstance(item, Notice)
            self.notices.append(str(item))

    def retract(self, job: LabelJob) -> None:
        key = job_key(job)
        assert self.jobs[key] > 0, f"retracted a label that was never passed: {key}"
        self.jobs[key] -= 1
        self.jobs += Counter()  # drop zero counts
        self.tally.remove(job)
        self.retracted += 1

    def summary(self) -> dict[str, Any]:
        t = self.tally
        return {
            "jobs": self.jobs,
            "failures": self.failures,
            "skips": sorted(self.skips),
            "notices": self.notices,
            "rows": t.rows,
            "labels": dict(t.labels),
            "by_type": dict(t.annotations_by_type),
            "by_category": dict(t.annotations_by_category),
            "annotations": t.annotation_count,
            "filtered": t.filtered_annotations,
            "unresolved": t.unresolved_names,
            "scores_dropped": t.object_scores_dropped,
            "failed_rows": t.failed_rows,
            "skipped": dict(t.skipped),
            "errors": {r: (b.count, [str(e) for e in b.examples]) for r, b in t.errors.items()},
        }


def job_key(job: LabelJob) -> tuple[Any, ...]:
    return (
        job.sample_uuid,
        job.sample_name,
        job.labelset,
        orjson.dumps(job.attributes, option=orjson.OPT_SORT_KEYS),
        job.score,
        tuple(str(loc) for loc in job.locs),
    )


def run_preparer(
    paths: list[str], on_duplicate: OnDuplicate, single: bool, fmt: str | None = None
) -> Seen:
    seen = Seen()
    conv = Converter(ConvertOptions(min_score=0.5), CATS)
    with Preparer(paths, conv, fmt=fmt, on_duplicate=on_duplicate) as prep:
        if single:
            prep.single_pass(seen.retract)
        for item in prep.items():
            seen.add(item)
    return seen


def write_files(tmp_path: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content)


@pytest.mark.parametrize("on_duplicate", ["error", "last"])
@pytest.mark.parametrize(
    ("files", "order"), [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS]
)
def test_single_pass_sees_what_two_passes_see(
    tmp_path: Path, files: dict[str, str], order: list[str], on_duplicate: OnDuplicate
) -> None:
    write_files(tmp_path, files)
    paths = [str(tmp_path / name) for name in order]
    two = run_preparer(paths, on_duplicate, single=False)
    one = run_preparer(paths, on_duplicate, single=True)
    assert one.summary() == two.summary()


def test_single_pass_retracts_each_duplicate_label_once(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(lines(row("u1"), row("u1"), row("u1", cat="bus"), row("u2")))
    one = run_preparer([str(tmp_path / "a.jsonl")], "error", single=True)
    # Rows 1 and 2 converted, were passed on, then taken back; row 3 never converted.
    assert one.retracted == 2
    assert [Path(f[1][0][0]).name for f in one.failures] == ["a.jsonl:1", "a.jsonl:2", "a.jsonl:3"]
    assert "same sample and label set as lines 2, 3" in one.failures[0][0][0]
    assert list(one.jobs) == [job_key_for_u2(one)]


def job_key_for_u2(seen: Seen) -> tuple[Any, ...]:
    (key,) = [k for k in seen.jobs if k[0] == "u2"]
    return key


def test_single_pass_reads_stdin_and_gzip(tmp_path: Path) -> None:
    data = lines(row("u1"), row("u2"), row("u1"), row("u3", cat="bus")).encode()
    gz = tmp_path / "p.jsonl.gz"
    gz.write_bytes(gzip.compress(data))
    assert (
        run_preparer([str(gz)], "last", single=True).summary()
        == run_preparer([str(gz)], "last", single=False).summary()
    )
    results = []
    for single in (False, True):
        seen = Seen()
        conv = Converter(ConvertOptions(), CATS)
        stdin = (tmp_path / "stdin.jsonl").open("wb+")
        stdin.write(data)
        stdin.seek(0)
        with stdin, Preparer(["-"], conv, stdin=stdin) as prep:
            if single:
                prep.single_pass(seen.retract)
            for item in prep.items():
                seen.add(item)
        results.append(seen.summary())
    assert results[0] == results[1]
    assert len(results[1]["failures"]) == 3


# --- whole offline runs --------------------------------------------------------------------


def offline_run(
    tmp_path: Path, paths: list[str], tag: str, *, dry_run: bool, **settings: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    failures = tmp_path / f"failures-{tag}"
    failures.mkdir()
    out = None if dry_run else tmp_path / f"labels-{tag}.jsonl"
    run = Run(
        Settings(dry_run=dry_run, failures=failures, **settings),
        RunInputs(
            paths=paths, convert=ConvertOptions(), categories_file=SAMPLE_CATS, output_labels=out
        ),
    )
    report = asyncio.run(run.execute()).to_dict()
    written = {p.name: p.read_text() for p in sorted(failures.iterdir())}
    return report, written


COMPARED = ("labels", "annotations", "failed_by_reason", "failure_examples", "exit_code")


@pytest.mark.parametrize(
    "settings",
    [
        {"on_duplicate": "error"},
        {"on_duplicate": "last"},
        {"on_duplicate": "error", "shard": (1, 2)},
        {"on_duplicate": "last", "shard": (2, 2)},
    ],
    ids=["error", "last", "error, shard 1/2", "last, shard 2/2"],
)
def test_dry_run_report_and_failures_match_the_two_pass_conversion(
    tmp_path: Path, settings: dict[str, Any]
) -> None:
    rng = random.Random(5)
    rows = []
    for _ in range(300):
        ref = f"u{rng.randrange(260)}"
        rows.append(row(ref, cat=rng.choice(["car", "car", "truck", "bus"])))
    rows.insert(17, "{broken")
    (tmp_path / "a.jsonl").write_text(lines(*rows[:150]))
    (tmp_path / "b.jsonl").write_text(lines(*rows[150:]))
    (tmp_path / "c.csv").write_text(CSV_HEADER + "u1,car,1,2,3,4\nu2,bus,1,2,3,4\n")
    paths = [str(tmp_path / n) for n in ("a.jsonl", "c.csv", "b.jsonl")]
    dry, dry_files = offline_run(tmp_path, paths, "dry", dry_run=True, **settings)
    conv, conv_files = offline_run(tmp_path, paths, "conv", dry_run=False, **settings)
    assert dry["failed_by_reason"][
        "duplicate row" if settings["on_duplicate"] == "error" else "unknown category"
    ]
    for key in COMPARED:
        assert dry[key] == conv[key], key
    # Same rows, with the reason for converted labels renamed.
    renamed = {
        ("written to --output-labels" if k == "dry run" else k): v
        for k, v in dry["skipped_by_reason"].items()
    }
    assert renamed == conv["skipped_by_reason"]
    assert dry["counts"] == conv["counts"]
    assert dry_files == conv_files
    assert dry_files  # something failed, so the comparison means something


# --- the hash sieve ---------------------------------------------------------------------------


SIEVE_CASES: list[tuple[str, Callable[[random.Random], list[int]], int]] = [
    ("empty", lambda rng: [], 0),
    ("all distinct", lambda rng: rng.sample(range(-(2**63), 2**63 - 1, 2**40), 5000), 0),
    (
        "repeats, extremes included",
        lambda rng: (
            [rng.randrange(-(2**63), 2**63) for _ in range(3000)]
            + [-(2**63), 2**63 - 1] * 2
            + [7] * 3
        ),
        3,
    ),
    ("one value in every partition", lambda rng: list(range(SIEVE_PARTS)) * 2, SIEVE_PARTS),
]


@pytest.mark.parametrize("spill_every", [0, 1, 777], ids=["in memory", "spill each", "spill 777"])
@pytest.mark.parametrize(
    ("make", "at_least"), [c[1:] for c in SIEVE_CASES], ids=[c[0] for c in SIEVE_CASES]
)
def test_hash_sieve_finds_exactly_the_repeated_values(
    tmp_path: Path, make: Callable[[random.Random], list[int]], at_least: int, spill_every: int
) -> None:
    rng = random.Random(3)
    values = make(rng)
    rng.shuffle(values)
    with HashSieve(tmp_dir=str(tmp_path)) as sieve:
        for i, v in enumerate(values, 1):
            sieve.parts[v & (SIEVE_PARTS - 1)].append(v)
            if spill_every and i % spill_every == 0:
                sieve.spill()
        assert sieve.spilled is (spill_every != 0 and len(values) >= spill_every)
        found = sieve.repeated()
        with pytest.raises(RuntimeError):
            sieve.repeated()
    expected = {v for v, n in Counter(values).items() if n > 1}
    assert found == expected
    assert len(found) >= at_least
    assert list(tmp_path.iterdir()) == []

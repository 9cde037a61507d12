"""Duplicates across input files and formats: a JSON row and a CSV label, two CSV files.

A label is one JSON/JSONL row, or the CSV lines of one sample in one file. Two
labels for the same (sample, label set) are duplicates whatever their files
and formats: with ``--on-duplicate error`` every line of both fails naming the
other's location; with ``--on-duplicate last`` the one in the later file (then
the later line) stands and the others are skipped as superseded.

Each scenario is two files naming one sample (DUP) with different categories,
plus a sample of their own each. It runs through the Python API (the CLI's
core) in four modes: the offline dry run (one pass, labels taken back at the
end), ``--output-labels`` (two passes), the dry run against a sandbox and a
real upload to it (checked with the official SDK), each with both duplicate
policies. Expected counts and messages are computed from the files the
scenario writes. Then the CLI itself: the lead's three commands, and a file
given twice, which is refused before anything is read or sent (exit 2).
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import segments
from inputkit import CATEGORIES_FILE, CATEGORY_IDS, DATASET, DEMO, UUIDS

import upload_preds
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.dedupe import SIEVE_PARTS, DuplicateIndex, HashSieve, repeated_across
from upload_preds.errors import InputFileError
from upload_preds.labeloutcomes import OnDuplicate
from upload_preds.pipeline import Preparer
from upload_preds.records import Failure, LabelJob, Location, Skip
from upload_preds.sandbox import SandboxHandle, start_sandbox

DUP = "img_0022.jpg"
CSV_COLUMNS = ["sample_name", "category", "xmin", "ymin", "xmax", "ymax"]


# --- scenarios ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputFile:
    """One input file: ``(sample name, category)`` labels in one format."""

    name: str
    fmt: str  # jsonl | json | csv
    labels: tuple[tuple[str, str], ...]

    def write(self, folder: Path) -> dict[str, list[int]]:
        """Write the file; return each sample's lines (a CSV label has two, apart)."""
        lines: dict[str, list[int]] = {}
        if self.fmt == "csv":
            # Two boxes per label, the second after every label's first line, so a
            # label's lines are not next to each other.
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            records = [(s, c, 1) for s, c in self.labels] + [(s, c, 2) for s, c in self.labels]
            for n, (sample, cat, k) in enumerate(records, start=2):
                writer.writerow([sample, cat, k, k, 30 + k, 40 + k])
                lines.setdefault(sample, []).append(n)
            (folder / self.name).write_text(out.getvalue())
            return lines
        rows = [
            {"sample_name": s, "annotations": [{"category": c, "bbox": [1, 2, 30, 40]}]}
            for s, c in self.labels
        ]
        if self.fmt == "jsonl":
            text = "".join(json.dumps(r) + "\n" for r in rows)
            first = 1
        else:  # a JSON array, one element per line after the "["
            text = "[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n"
            first = 2
        for n, (sample, _) in enumerate(self.labels, start=first):
            lines[sample] = [n]
        (folder / self.name).write_text(text)
        return lines


EXT = {"jsonl": "jsonl", "json": "json", "csv": "csv"}
PAIRS = [("jsonl", "csv"), ("csv", "jsonl"), ("json", "csv"), ("csv", "csv"), ("jsonl", "jsonl")]


def pair_files(first: str, second: str) -> tuple[InputFile, InputFile]:
    """DUP in both files (car, then truck) and a sample of each file's own."""
    return (
        InputFile(f"a.{EXT[first]}", first, ((DUP, "car"), ("img_0005.jpg", "pedestrian"))),
        InputFile(f"b.{EXT[second]}", second, (("img_0006.jpg", "cyclist"), (DUP, "truck"))),
    )


@dataclass
class Expected:
    """What a run over the files must report, computed from what was written."""

    rows: int
    dup_rows: Counter[str]  # file name -> rows of DUP in it
    dup_first: dict[str, Location]  # file name -> DUP's first location there
    last_file: str
    standing_rows: dict[str, int]  # policy -> rows of the labels that stand
    categories: dict[str, dict[str, str]]  # policy -> sample -> category that stands


def expect(files: tuple[InputFile, ...], folder: Path) -> Expected:
    rows = 0
    dup_rows: Counter[str] = Counter()
    dup_first: dict[str, Location] = {}
    own_rows = 0
    error_cats: dict[str, str] = {}
    for f in files:
        lines = f.write(folder)
        rows += sum(len(v) for v in lines.values())
        dup_rows[f.name] = len(lines[DUP])
        dup_first[f.name] = Location(f.name, lines[DUP][0])
        for sample, cat in f.labels:
            if sample != DUP:
                own_rows += len(lines[sample])
                error_cats[sample] = cat
    last = files[-1]
    last_cat = dict(last.labels)[DUP]
    return Expected(
        rows=rows,
        dup_rows=dup_rows,
        dup_first=dup_first,
        last_file=last.name,
        standing_rows={"error": own_rows, "last": own_rows + dup_rows[last.name]},
        categories={"error": error_cats, "last": {**error_cats, DUP: last_cat}},
    )


# --- the sandbox ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """One sandbox with the demo dataset; each run uploads into a label set of its own."""
    db = tmp_path_factory.mktemp("sandbox") / "sandbox.db"
    handle = start_sandbox(data=DEMO_MANIFEST, db=db, api_key="sk-" + secrets.token_hex(8))
    yield handle
    handle.stop()


DEMO_MANIFEST = {"datasets": [DEMO]}


def server_label(handle: SandboxHandle, sample: str, labelset: str) -> dict[str, Any] | None:
    """A label as the official SDK reads it, or None when there is none."""
    client = segments.SegmentsClient(api_key=handle.api_key, api_url=handle.url)
    try:
        label = client.get_label(UUIDS[sample], labelset)
    except segments.exceptions.NotFoundError:
        return None
    assert label.attributes is not None
    attrs: dict[str, Any] = label.attributes.model_dump(mode="json", exclude_unset=True)
    return attrs


# --- runs through the Python API ------------------------------------------------------------

MODES = ["offline dry run", "output labels", "sandbox dry run", "sandbox upload"]
STANDING_REASON = {
    "offline dry run": "dry run",
    "output labels": "written to --output-labels",
    "sandbox dry run": "would upload",
}


def run_api(
    mode: str,
    paths: list[str],
    policy: str,
    tmp_path: Path,
    handle: SandboxHandle | None,
    labelset: str,
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "on_duplicate": policy,
        "failures": tmp_path / "failures",
        "state": tmp_path / "journal.sqlite3",
        "labelset": labelset,
    }
    if mode in ("offline dry run", "output labels"):
        options["categories_file"] = CATEGORIES_FILE
        if mode == "offline dry run":
            options["dry_run"] = True
        else:
            options["output_labels"] = tmp_path / "labels.jsonl"
    else:
        assert handle is not None
        options.update(
            api_key=handle.api_key,
            api_url=handle.url,
            dataset=DATASET,
            create_labelset=True,
            dry_run=mode == "sandbox dry run",
        )
    report = upload_preds.upload(paths, **options)
    data: dict[str, Any] = report.to_dict()
    return data


def failed_rows(folder: Path) -> list[dict[str, Any]]:
    """Every row of every failures file in ``folder``, with its file's stem."""
    out: list[dict[str, Any]] = []
    if not folder.exists():
        return out
    for path in sorted(folder.iterdir()):
        text = path.read_text()
        if path.suffix == ".csv":
            for rec in csv.DictReader(io.StringIO(text)):
                out.append({"file": path.name, "sample": rec["sample_name"], **rec})
        else:
            for line in text.splitlines():
                rec = json.loads(line)
                out.append({"file": path.name, "sample": rec["sample_name"], **rec})
    return out


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in tmp_path (input names stay short, as a user types them), no API in the env."""
    monkeypatch.chdir(tmp_path)
    for var in ("SEGMENTS_API_KEY", "SEGMENTS_API_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.mark.parametrize("policy", ["error", "last"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pair", PAIRS, ids=["+".join(p) for p in PAIRS])
def test_cross_file_duplicates_are_found_in_every_mode(
    pair: tuple[str, str],
    mode: str,
    policy: str,
    in_tmp: Path,
    sandbox: SandboxHandle,
) -> None:
    files = pair_files(*pair)
    exp = expect(files, in_tmp)
    labelset = "dups-" + secrets.token_hex(4)
    report = run_api(mode, [f.name for f in files], policy, in_tmp, sandbox, labelset)

    counts = report["counts"]
    assert counts["rows"] == exp.rows
    assert counts["rows"] == counts["uploaded"] + counts["skipped"] + counts["failed"]
    dup_total = sum(exp.dup_rows.values())
    a, b = (f.name for f in files)
    if policy == "error":
        assert report["failed_by_reason"] == {"duplicate row": dup_total}
        assert counts["failed"] == dup_total
        assert "superseded" not in report["skipped_by_reason"]
        examples = report["failure_examples"]["duplicate row"]
        first_a, first_b = exp.dup_first[a], exp.dup_first[b]
        assert any(e.startswith(f"{first_a}") and f"as {first_b};" in e for e in examples)
        assert any(e.startswith(f"{first_b}") and f"as {first_a};" in e for e in examples)
        # Every failed row is in the failures files, with the reason, and nothing else.
        rows = failed_rows(in_tmp / "failures")
        assert Counter(r["sample"] for r in rows) == Counter({DUP: dup_total})
        # Each row carries its own message once (a CSV label fails line by line).
        assert all(r["_error"].count("same sample and label set as") == 1 for r in rows)
        assert report["exit_code"] == 1
    else:
        superseded = dup_total - exp.dup_rows[exp.last_file]
        assert report["skipped_by_reason"]["superseded"] == superseded
        assert counts["failed"] == 0
        assert not (in_tmp / "failures").exists()
        assert report["exit_code"] == 0

    standing = exp.standing_rows[policy]
    if mode == "sandbox upload":
        assert counts["uploaded"] == standing
        assert report["labels"]["uploaded"] == len(exp.categories[policy])
        for sample, cat in exp.categories[policy].items():
            label = server_label(sandbox, sample, labelset)
            assert label is not None, sample
            assert {a["category_id"] for a in label["annotations"]} == {CATEGORY_IDS[cat]}
        if policy == "error":
            assert server_label(sandbox, DUP, labelset) is None
    else:
        assert counts["uploaded"] == 0
        assert report["skipped_by_reason"][STANDING_REASON[mode]] == standing
        assert report["labels"]["converted"] == len(exp.categories[policy])
    if mode == "output labels":
        written = [json.loads(x) for x in (in_tmp / "labels.jsonl").read_text().splitlines()]
        got = {r["sample_name"]: r["attributes"]["annotations"] for r in written}
        assert {s: {x["category_id"] for x in anns} for s, anns in got.items()} == {
            s: {CATEGORY_IDS[c]} for s, c in exp.categories[policy].items()
        }


# "last" is the order of the files on the command line, then line order.
ORDER_CASES = [
    ("json, csv, jsonl: the jsonl stands", ["json", "csv", "jsonl"], "jsonl"),
    ("csv, jsonl, csv: the second csv stands", ["csv", "jsonl", "csv"], "c.csv"),
    ("jsonl, jsonl, csv: the csv stands", ["jsonl", "jsonl", "csv"], "csv"),
]


@pytest.mark.parametrize(
    ("fmts", "winner"), [c[1:] for c in ORDER_CASES], ids=[c[0] for c in ORDER_CASES]
)
@pytest.mark.parametrize("mode", ["offline dry run", "output labels"])
def test_last_means_the_later_file_on_the_command_line(
    fmts: list[str], winner: str, mode: str, in_tmp: Path
) -> None:
    cats = ["car", "truck", "pedestrian"]
    files = tuple(
        InputFile(f"{'abc'[i]}.{EXT[fmt]}", fmt, ((DUP, cats[i]),)) for i, fmt in enumerate(fmts)
    )
    exp = expect(files, in_tmp)
    report = run_api(mode, [f.name for f in files], "last", in_tmp, None, "ground-truth")
    counts = report["counts"]
    assert counts["rows"] == counts["uploaded"] + counts["skipped"] + counts["failed"] == exp.rows
    assert report["skipped_by_reason"]["superseded"] == exp.rows - exp.dup_rows[exp.last_file]
    assert report["labels"]["converted"] == 1
    assert files[-1].name.endswith(winner)
    if mode == "output labels":
        (written,) = [json.loads(x) for x in (in_tmp / "labels.jsonl").read_text().splitlines()]
        assert {a["category_id"] for a in written["attributes"]["annotations"]} == {
            CATEGORY_IDS[cats[len(files) - 1]]
        }


# --- the pipeline: one pass and two passes agree ---------------------------------------------


def preparer_outcomes(paths: list[str], policy: OnDuplicate, single: bool) -> dict[str, Any]:
    conv = Converter(ConvertOptions(), Categories.from_file(CATEGORIES_FILE))
    jobs: Counter[tuple[Any, ...]] = Counter()
    failures: list[tuple[str, ...]] = []
    skips: list[tuple[str, ...]] = []

    def retract(job: LabelJob) -> None:
        jobs[(job.sample_name, job.sample_uuid, job.labelset, job.locs)] -= 1

    with Preparer(paths, conv, on_duplicate=policy) as prep:
        if single:
            prep.single_pass(retract)
        for item in prep.items():
            if isinstance(item, LabelJob):
                jobs[(item.sample_name, item.sample_uuid, item.labelset, item.locs)] += 1
            elif isinstance(item, Failure):
                failures.append(tuple(str(e) for e in item.errors))
            elif isinstance(item, Skip):
                skips.append((item.message, *(str(loc) for loc, _ in item.rows)))
    return {"jobs": +jobs, "failures": failures, "skips": skips}


def jsonl(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def box(ref: dict[str, Any], cat: str = "car", **extra: Any) -> dict[str, Any]:
    return {**ref, "annotations": [{"category": cat, "bbox": [1, 2, 3, 4]}], **extra}


U1 = {"sample_uuid": "u1"}
N1 = {"sample_name": "n1"}
HEADER = "sample_uuid,sample_name,labelset,category,x0,y0,x1,y1\n"

# (id, files in order, {policy: (rows failed as duplicates or superseded, labels)})
PIPELINE_CASES: list[tuple[str, dict[str, str], dict[str, tuple[int, int]]]] = [
    (
        "uuid in JSONL and CSV, other label set apart",
        {
            "a.jsonl": jsonl(box(U1), box({"sample_uuid": "u2"})),
            "b.csv": HEADER + "u1,,,car,1,2,3,4\nu2,,preds,car,1,2,3,4\nu1,,,truck,1,2,3,4\n",
        },
        {"error": (3, 2), "last": (1, 3)},
    ),
    (
        "names: spaces around them are the same sample",
        {
            "a.csv": HEADER + ", n1 ,,car,1,2,3,4\n,n1,,car,5,6,7,8\n",
            "b.jsonl": jsonl(box({"sample_name": "n1 "}), box({"sample_name": "n2"})),
        },
        {"error": (3, 1), "last": (2, 2)},
    ),
    (
        "labelset null is the default label set",
        {
            "a.jsonl": jsonl(box(N1, labelset=None)),
            "b.csv": HEADER + ",n1,ground-truth,car,1,2,3,4\n",
        },
        {"error": (2, 0), "last": (1, 1)},
    ),
    (
        "a failing CSV label is still a duplicate",
        {
            "a.csv": HEADER + "u1,,,car,1,2,3,4\nu1,,,bus,1,2,3,4\n",
            "b.jsonl": jsonl(box(U1, cat="truck")),
        },
        {"error": (3, 0), "last": (2, 1)},
    ),
    (
        "three CSV files, one key in all",
        {
            "a.csv": HEADER + "u1,,,car,1,2,3,4\n",
            "b.csv": HEADER + "u9,,,car,1,2,3,4\nu1,,,car,1,2,3,4\n",
            "c.tsv": HEADER.replace(",", "\t") + "u1\t\t\tcar\t1\t2\t3\t4\n",
        },
        {"error": (3, 1), "last": (2, 2)},
    ),
    (
        "no duplicates: same sample in two label sets, and a uuid vs a name",
        {
            "a.csv": HEADER + "u1,,,car,1,2,3,4\n",
            "b.jsonl": jsonl(box(U1, labelset="preds"), box({"sample_name": "u1"})),
        },
        {"error": (0, 3), "last": (0, 3)},
    ),
]


@pytest.mark.parametrize("policy", ["error", "last"])
@pytest.mark.parametrize(
    ("files", "expected"), [c[1:] for c in PIPELINE_CASES], ids=[c[0] for c in PIPELINE_CASES]
)
def test_cross_file_duplicates_one_pass_matches_two_passes(
    files: dict[str, str],
    expected: dict[str, tuple[int, int]],
    policy: OnDuplicate,
    tmp_path: Path,
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    paths = [str(tmp_path / n) for n in files]
    two = preparer_outcomes(paths, policy, single=False)
    one = preparer_outcomes(paths, policy, single=True)
    assert one == two
    dup_errors = [e for f in two["failures"] for e in f if "same sample and label set" in e]
    superseded = sum(len(s) - 1 for s in two["skips"])
    assert (len(dup_errors) + superseded, sum(two["jobs"].values())) == expected[policy]
    assert not (dup_errors and superseded)


def test_the_same_file_twice_below_the_cli_names_it(tmp_path: Path) -> None:
    """The pipeline on its own still reads a file given twice (the run refuses it
    first); its duplicate errors then say so instead of naming nothing."""
    (tmp_path / "a.jsonl").write_text(jsonl(box(U1)))
    path = str(tmp_path / "a.jsonl")
    out = preparer_outcomes([path, path], "error", single=False)
    assert (
        out["failures"]
        == [
            (
                f"{path}:1: same sample and label set as line 1 (the file {path} is given more than "
                "once); keep one row per sample and label set, or pass --on-duplicate last to keep "
                "the last one",
            )
        ]
        * 2
    )


# --- the bounded-memory machinery -------------------------------------------------------------


@pytest.mark.parametrize("limit", [1_000_000, 7, 2], ids=["in memory", "spilled", "spilled-tiny"])
def test_duplicate_index_counts_a_grouped_files_records_once(tmp_path: Path, limit: int) -> None:
    adds = [
        ("k1", Location("a.csv", 2), True),
        ("k2", Location("a.csv", 3), True),
        ("k1", Location("a.csv", 4), True),  # the same label of a.csv
        ("k3", Location("a.csv", 5), True),
        ("k1", Location("b.jsonl", 1), False),
        ("k3", Location("b.jsonl", 2), False),
        ("k3", Location("b.jsonl", 3), False),  # two rows of a JSON file: two labels
        ("k2", Location("c.csv", 2), True),
        ("k2", Location("c.csv", 9), True),
        ("k4", Location("c.csv", 3), True),
        ("k4", Location("c.csv", 4), True),  # one label only: no duplicate
    ]
    with DuplicateIndex(limit, tmp_dir=str(tmp_path)) as index:
        for key, loc, grouped in adds:
            index.add(key, loc, grouped=grouped)
        assert index.spilled is (limit < len(adds))
        found = index.duplicates()
    assert found == {
        "k1": [Location("a.csv", 2), Location("b.jsonl", 1)],
        "k2": [Location("a.csv", 3), Location("c.csv", 2)],
        "k3": [Location("a.csv", 5), Location("b.jsonl", 2), Location("b.jsonl", 3)],
    }
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("spill", [False, True], ids=["in memory", "spilled"])
def test_repeated_across_counts_a_distinct_sieve_once(tmp_path: Path, spill: bool) -> None:
    def sieve(values: list[int], distinct: bool) -> HashSieve:
        s = HashSieve(tmp_dir=str(tmp_path), distinct=distinct)
        for v in values:
            s.parts[v & (SIEVE_PARTS - 1)].append(v)
        if spill:
            s.spill()
        return s

    rows = sieve([1, 2, 3, 3], distinct=False)  # JSON rows: 3 repeats
    csv_a = sieve([5, 5, 5, 1, 7, 64 + 7], distinct=True)  # one file's labels: 5 does not
    csv_b = sieve([7, 9, 9], distinct=True)
    try:
        assert repeated_across([rows, csv_a, csv_b]) == {1, 3, 7}
    finally:
        for s in (rows, csv_a, csv_b):
            s.close()
    assert os.listdir(tmp_path) == []


# --- the CLI ----------------------------------------------------------------------------------


def cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
    base.update({"NO_COLOR": "1", "COLUMNS": "200"}, **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "upload_preds", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=base,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


LEAD_A = (
    '{"sample_name": "img_0022.jpg", "annotations": [{"category": "car", "bbox": [1,2,30,40]}]}\n'
)
LEAD_B = "sample_name,category,xmin,ymin,xmax,ymax\nimg_0022.jpg,truck,1,2,30,40\n"
LEAD_E = "sample_name,category,xmin,ymin,xmax,ymax\nimg_0022.jpg,car,1,2,30,40\n"

# The lead's three commands (bugs 1-3), run against a sandbox as a dry run.
LEAD_CASES = [
    (
        "bug 1: a.jsonl b.csv",
        ["a.jsonl", "b.csv"],
        1,
        {
            "a.jsonl:1: same sample and label set as b.csv:2;",
            "b.csv:2: same sample and label set as a.jsonl:1;",
        },
    ),
    (
        "bug 2: b.csv e.csv",
        ["b.csv", "e.csv"],
        1,
        {
            "b.csv:2: same sample and label set as e.csv:2;",
            "e.csv:2: same sample and label set as b.csv:2;",
        },
    ),
    (
        "bug 3: a.jsonl a.jsonl",
        ["a.jsonl", "a.jsonl"],
        2,
        {"error: a.jsonl: is given more than once"},
    ),
]


@pytest.mark.parametrize(
    ("files", "code", "messages"), [c[1:] for c in LEAD_CASES], ids=[c[0] for c in LEAD_CASES]
)
def test_the_leads_commands(
    files: list[str], code: int, messages: set[str], tmp_path: Path, sandbox: SandboxHandle
) -> None:
    (tmp_path / "a.jsonl").write_text(LEAD_A)
    (tmp_path / "b.csv").write_text(LEAD_B)
    (tmp_path / "e.csv").write_text(LEAD_E)
    sandbox.reset_stats()
    proc = cli(
        tmp_path,
        *files,
        "--dry-run",
        "--dataset",
        DATASET,
        "--json",
        "--state",
        str(tmp_path / "journal.sqlite3"),
        env={"SEGMENTS_API_KEY": sandbox.api_key, "SEGMENTS_API_URL": sandbox.url},
    )
    assert proc.returncode == code, proc.stderr
    for message in messages:
        assert message in proc.stderr
    if code == 2:
        assert sandbox.stats()["total_requests"] == 0  # refused before the first request
        assert proc.stdout == ""
        return
    report = json.loads(proc.stdout)
    counts = report["counts"]
    assert counts == {"rows": 2, "uploaded": 0, "skipped": 0, "failed": 2}
    assert report["labels"]["converted"] == 0
    # The Python API says the same about the same files.
    api = upload_preds.upload(
        [str(tmp_path / f) for f in files],
        api_key=sandbox.api_key,
        api_url=sandbox.url,
        dataset=DATASET,
        dry_run=True,
        state=tmp_path / "journal.sqlite3",
        failures=tmp_path / "api-failures",
    ).to_dict()
    assert api["counts"] == counts
    assert api["failed_by_reason"] == report["failed_by_reason"]


def _link(tmp_path: Path, kind: str) -> str:
    target = tmp_path / "a.jsonl"
    link = tmp_path / f"{kind}.jsonl"
    if kind == "symlink":
        link.symlink_to(target)
    else:
        os.link(target, link)
    return link.name


# (id, the arguments after a.jsonl, the name the message must give, or None when accepted)
REPEAT_CASES: list[tuple[str, list[str], str | None]] = [
    ("same name", ["a.jsonl"], "a.jsonl: is given more than once"),
    (
        "./ spelling",
        ["./a.jsonl"],
        "./a.jsonl: is given more than once (as 'a.jsonl' and './a.jsonl')",
    ),
    ("symbolic link", ["@symlink"], "symlink.jsonl: is given more than once"),
    ("hard link", ["@hardlink"], "hardlink.jsonl: is given more than once"),
    ("another file then the same", ["b.csv", "a.jsonl"], "a.jsonl: is given more than once"),
    ("stdin once is fine", ["-"], None),
]


@pytest.mark.parametrize(
    ("more", "message"), [c[1:] for c in REPEAT_CASES], ids=[c[0] for c in REPEAT_CASES]
)
def test_a_file_given_twice_is_refused_up_front(
    more: list[str], message: str | None, tmp_path: Path
) -> None:
    (tmp_path / "a.jsonl").write_text(LEAD_A)
    (tmp_path / "b.csv").write_text(LEAD_B.replace("img_0022", "img_0023"))
    args = ["a.jsonl", *(_link(tmp_path, m[1:]) if m.startswith("@") else m for m in more)]
    out = tmp_path / "labels.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "upload_preds",
            *args,
            "--categories",
            str(CATEGORIES_FILE),
            "--output-labels",
            str(out),
        ],
        input=LEAD_E.replace("img_0022", "img_0024"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")},
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr
    if message is None:
        assert proc.returncode == 0, proc.stderr
        assert len(out.read_text().splitlines()) == 2
        return
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "name each input file once" in proc.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if ".failed" in p.name) == []


def test_python_api_refuses_a_file_given_twice(in_tmp: Path) -> None:
    (in_tmp / "a.jsonl").write_text(LEAD_A)
    with pytest.raises(InputFileError, match=r"a\.jsonl: is given more than once"):
        upload_preds.upload(
            ["a.jsonl", in_tmp / "a.jsonl"], dry_run=True, categories_file=CATEGORIES_FILE
        )

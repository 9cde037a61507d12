"""The lines of one sample in a CSV file are one label, by name or by uuid.

A CSV/TSV file's lines of one (sample, label set) are one label. Some lines
may name the sample by ``sample_name`` and others by ``sample_uuid``: once the
run knows the dataset (names resolved), they are still one label, whichever
reference each line uses. Before, the two references were grouped apart, and
two labels were PUT to the one sample, the second overwriting the first (the
first line's boxes lost, no message). Checked against the sandbox, with the
label read back by the official SDK: the upload, the sandbox dry run,
``--on-duplicate last``, the journal on a rerun, and two files (where the
sample by name in one and by uuid in the other is a duplicate, as for JSON).
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segments
from inputkit import CATEGORY_IDS, DATASET, DEMO, UUIDS
from segments.typing import ImageVectorLabelAttributes

import upload_preds
from upload_preds.sandbox import SandboxHandle, start_sandbox

MIXED = "img_0022.jpg"  # named both ways
OTHER = "img_0005.jpg"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    db = tmp_path_factory.mktemp("sandbox") / "sandbox.db"
    handle = start_sandbox(data={"datasets": [DEMO]}, db=db, api_key="sk-" + secrets.token_hex(8))
    yield handle
    handle.stop()


def write_csv(path: Path, lines: list[tuple[str, str, str]]) -> None:
    """``(kind, sample name, category)`` lines; kind ``n`` names the sample, ``u`` its uuid."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["sample_name", "sample_uuid", "category", "xmin", "ymin", "xmax", "ymax"])
    for k, (kind, sample, cat) in enumerate(lines, start=1):
        name, uuid = (sample, "") if kind == "n" else ("", UUIDS[sample])
        writer.writerow([name, uuid, cat, k, k, 30 + k, 40 + k])
    path.write_text(out.getvalue())


#: Line 2 by name, line 3 another sample, line 4 by uuid, line 5 by name again.
MIXED_LINES = [("n", MIXED, "car"), ("n", OTHER, "truck"), ("u", MIXED, "pedestrian"),
               ("n", MIXED, "cyclist")]  # fmt: skip


def run(
    paths: list[Path], handle: SandboxHandle, labelset: str, tmp: Path, **options: Any
) -> dict[str, Any]:
    report = upload_preds.upload(
        [str(p) for p in paths],
        api_key=handle.api_key,
        api_url=handle.url,
        dataset=DATASET,
        labelset=labelset,
        create_labelset=True,
        failures=tmp / "failures",
        state=tmp / "journal.sqlite3",
        **options,
    )
    out: dict[str, Any] = report.to_dict()
    return out


def categories_on_server(handle: SandboxHandle, sample: str, labelset: str) -> list[str] | None:
    """The label's categories (by box, in order) as the SDK reads them back."""
    client = segments.SegmentsClient(api_key=handle.api_key, api_url=handle.url)
    try:
        label = client.get_label(UUIDS[sample], labelset)
    except segments.exceptions.NotFoundError:
        return None
    attrs = ImageVectorLabelAttributes.model_validate(
        label.attributes.model_dump(mode="json") if label.attributes is not None else {}
    )
    names = {cid: name for name, cid in CATEGORY_IDS.items()}
    return [names[a.category_id] for a in attrs.annotations]


def puts(handle: SandboxHandle) -> int:
    requests = handle.stats()["requests"].get("PUT", {})
    return sum(sum(by_status.values()) for route, by_status in requests.items() if "label" in route)


@pytest.mark.parametrize("policy", ["error", "last"])
def test_name_and_uuid_lines_of_one_sample_are_one_label(
    policy: str, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    path = tmp_path / "preds.csv"
    write_csv(path, MIXED_LINES)
    labelset = "mixed-" + secrets.token_hex(4)
    sandbox.reset_stats()
    report = run([path], sandbox, labelset, tmp_path, on_duplicate=policy)

    assert report["counts"]["uploaded"] == 4
    assert report["counts"]["failed"] == 0
    assert report["labels"]["uploaded"] == 2
    assert report["exit_code"] == 0
    # One PUT per sample: nothing was written over.
    assert puts(sandbox) == 2
    got = categories_on_server(sandbox, MIXED, labelset)
    assert got is not None
    assert sorted(got) == ["car", "cyclist", "pedestrian"]
    assert categories_on_server(sandbox, OTHER, labelset) == ["truck"]

    # The journal knows the label: a rerun sends nothing.
    sandbox.reset_stats()
    again = run([path], sandbox, labelset, tmp_path, on_duplicate=policy)
    assert again["counts"]["uploaded"] == 0
    assert again["skipped_by_reason"] == {"already uploaded": 4}
    assert puts(sandbox) == 0


def test_the_dry_run_counts_one_label(tmp_path: Path, sandbox: SandboxHandle) -> None:
    path = tmp_path / "preds.csv"
    write_csv(path, MIXED_LINES)
    report = run([path], sandbox, "dry-" + secrets.token_hex(4), tmp_path, dry_run=True)
    assert report["labels"]["converted"] == 2
    assert report["skipped_by_reason"] == {"would upload": 4}
    assert report["counts"]["failed"] == 0


def test_mixed_lines_that_fail_fail_together(tmp_path: Path, sandbox: SandboxHandle) -> None:
    """A bad line by uuid fails the label of the lines by name too: one label, one fate."""
    path = tmp_path / "preds.csv"
    write_csv(path, [("n", MIXED, "car"), ("u", MIXED, "no-such-category")])
    labelset = "bad-" + secrets.token_hex(4)
    report = run([path], sandbox, labelset, tmp_path)
    assert report["counts"]["failed"] == 2
    assert report["labels"]["uploaded"] == 0
    assert categories_on_server(sandbox, MIXED, labelset) is None


@pytest.mark.parametrize("policy", ["error", "last"])
def test_by_name_in_one_file_and_by_uuid_in_another_are_duplicates(
    policy: str, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_csv(a, [("n", MIXED, "car"), ("n", OTHER, "truck")])
    write_csv(b, [("u", MIXED, "pedestrian"), ("u", MIXED, "cyclist")])
    labelset = "two-" + secrets.token_hex(4)
    report = run([a, b], sandbox, labelset, tmp_path, on_duplicate=policy)
    got = categories_on_server(sandbox, MIXED, labelset)
    if policy == "error":
        assert report["failed_by_reason"] == {"duplicate row": 3}
        examples = report["failure_examples"]["duplicate row"]
        assert any(e.startswith(f"{a}:2") and f"{b}:2" in e for e in examples)
        assert got is None
    else:
        assert report["skipped_by_reason"]["superseded"] == 1
        assert got is not None
        assert sorted(got) == ["cyclist", "pedestrian"]
    assert categories_on_server(sandbox, OTHER, labelset) == ["truck"]

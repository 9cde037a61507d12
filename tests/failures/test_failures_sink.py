"""The failures sink on real files: what it writes, read back by the real reader.

Each test reads an input with :func:`read_records`, gives the sink the records
that failed (as a run does), closes it, and reads the failures file again: a
record that could not be parsed must come back failing with the same error,
and a fixed one must parse.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from upload_preds.errors import OutputError
from upload_preds.failures import FailureSink, open_failures
from upload_preds.readers import open_sources, read_records
from upload_preds.records import Location, Record, RowError


def _errors(path: Path) -> list[RowError]:
    return [i for i in read_records(open_sources([str(path)])) if isinstance(i, RowError)]


def _records(path: Path) -> list[Record]:
    return [i for i in read_records(open_sources([str(path)])) if isinstance(i, Record)]


def _fail_every_error(path: Path, sink: FailureSink | None = None) -> list[str]:
    """Read ``path`` and give the sink every record that could not be parsed."""
    sources = open_sources([str(path)])
    sink = sink or open_failures(sources, None)
    for item in read_records(sources):
        if isinstance(item, RowError):
            sink.add(((item.loc, {}),), item.message, (item,))
    return sink.close()


def _shape(errors: list[RowError]) -> list[tuple[str, str]]:
    return [(e.reason, e.message) for e in errors]


def test_unparseable_jsonl_lines_are_kept_and_fail_again_the_same_way(tmp_path: Path) -> None:
    src = tmp_path / "preds.jsonl"
    src.write_bytes(
        b'{"sample_uuid": "a", "annotations": []}\n'
        b"{not json\n"
        b"[1, 2]\n"
        b'{"sample_uuid": "b", "annotations": [\n'
        b'"just a string"\n'
    )
    before = _errors(src)
    assert len(before) == 4
    (written,) = _fail_every_error(src)
    assert written == str(tmp_path / "preds.failed.jsonl")
    lines = Path(written).read_text().splitlines()
    assert len(lines) == 4  # every failed record, none dropped
    assert all('"_raw"' in line and '"_error"' in line for line in lines)
    assert _shape(_errors(Path(written))) == _shape(before)
    # Fixing the raw text in place makes the row parse.
    fixed = Path(written).read_text().replace("{not json", '{\\"sample_uuid\\": \\"c\\"}', 1)
    Path(written).write_text(fixed)
    assert [r.data for r in _records(Path(written))] == [{"sample_uuid": "c"}]


def test_a_line_that_is_not_utf8_is_copied_as_it_was(tmp_path: Path) -> None:
    src = tmp_path / "preds.jsonl"
    src.write_bytes(b'{"sample_uuid": "\xff"}\n')
    before = _errors(src)
    (written,) = _fail_every_error(src)
    assert Path(written).read_bytes() == b'{"sample_uuid": "\xff"}\n'
    assert _shape(_errors(Path(written))) == _shape(before)


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_unparseable_csv_records_keep_their_columns_and_fail_again(
    tmp_path: Path, fmt: str
) -> None:
    d = "\t" if fmt == "tsv" else ","
    src = tmp_path / f"preds.{fmt}"
    rows = [
        ["sample_uuid", "category", "xmin", "ymin", "xmax", "ymax"],
        ["a", "car", "1", "2", "3", "4"],
        ["b", "car", "1", "2"],  # ragged: 4 cells for 6 columns
        ["c", 'c"ar', "1", "2", "3", "4"],  # a quote inside an unquoted cell is text
        ["d", '"car"x', "1", "2", "3", "4"],  # text after a closing quote
        ["e", '"car', "1", "2", "3", "4"],  # a quote that never closes
        ["f", "car", "1", "2", "3", "4"],
    ]
    src.write_text("\n".join(d.join(r) for r in rows) + "\n")
    before = _errors(src)
    assert [e.reason for e in before] == ["ragged row", "invalid quoting", "unterminated quote"]
    (written,) = _fail_every_error(src)
    path = Path(written)
    assert path.name == f"preds.failed.{fmt}"
    with path.open(newline="") as f:
        header = next(csv.reader(f, delimiter=d))
    assert header == [*rows[0], "_error"]  # the input's columns, then the error
    assert [e.reason for e in _errors(path)] == [e.reason for e in before]
    assert [e.loc.line for e in _errors(path)] == [2, 3, 4]
    assert _records(path) == []  # the open quote swallows nothing after it


def test_a_csv_line_that_is_not_utf8_is_copied_as_it_was(tmp_path: Path) -> None:
    src = tmp_path / "preds.csv"
    src.write_bytes(b"sample_uuid,category\na,car\nb,c\xe9r\n")
    before = _errors(src)
    assert [e.reason for e in before] == ["undecodable byte"]
    (written,) = _fail_every_error(src)
    assert Path(written).read_bytes().splitlines()[1].startswith(b"b,c\xe9r,")
    assert _shape(_errors(Path(written))) == _shape(before)


def test_an_existing_folder_as_failures_target_takes_the_default_name(tmp_path: Path) -> None:
    src = tmp_path / "preds.jsonl"
    src.write_bytes(b"oops\n")
    out = tmp_path / "out"
    out.mkdir()
    sources = open_sources([str(src)])
    assert _fail_every_error(src, open_failures(sources, out)) == [str(out / "preds.failed.jsonl")]


def test_a_full_disk_is_a_clear_error_and_leaves_no_temporary_file(
    tmp_path: Path, tiny_disk: Path
) -> None:
    src = tmp_path / "preds.jsonl"
    src.write_bytes(b"".join(b"{broken %d " % i + b"x" * 1000 + b"\n" for i in range(400)))
    disk = tiny_disk
    sources = open_sources([str(src)])
    sink = open_failures(sources, disk / "failed.jsonl")
    with pytest.raises(OutputError) as caught:
        _fail_every_error(src, sink)
    assert "failed.jsonl" in caught.value.message
    assert "No space left on device" in caught.value.message
    assert caught.value.exit_code == 3
    assert list(disk.iterdir()) == []  # neither the file nor its temporary name


def test_a_full_disk_while_writing_a_csv_failures_file(tmp_path: Path, tiny_disk: Path) -> None:
    src = tmp_path / "preds.csv"
    src.write_text(
        "sample_uuid,category\n" + "".join(f"a{i},car,{'x' * 900}\n" for i in range(400))
    )
    disk = tiny_disk
    sources = open_sources([str(src)])
    sink = open_failures(sources, disk / "failed.csv")
    with pytest.raises(OutputError, match="No space left on device"):
        _fail_every_error(src, sink)
    assert list(disk.iterdir()) == []


def test_coco_failures_into_an_existing_folder(tmp_path: Path) -> None:
    src = tmp_path / "res.json"
    src.write_text('[{"image_id": 1, "category_id": 9, "bbox": [1, 2, 3, 4]}]')
    out = tmp_path / "out"
    out.mkdir()
    sink = open_failures([], out, detector_fmt="coco", detector_paths=[str(src)])
    assert sink.targets() == [out / "res.failed.json"]
    det = {"image_id": 1, "category_id": 9, "bbox": [1, 2, 3, 4]}
    sink.add(((Location(str(src), 1), det),), "unknown category id 9")
    assert sink.close() == [str(out / "res.failed.json")]
    assert json.loads((out / "res.failed.json").read_text()) == [
        {**det, "_error": "unknown category id 9"}
    ]


def test_a_row_with_a_key_twice_fails_again_from_the_failures_file(tmp_path: Path) -> None:
    src = tmp_path / "preds.jsonl"
    src.write_text('{"sample_name": "a", "sample_name": "b", "annotations": []}\n')
    before = _errors(src)
    assert [e.reason for e in before] == ["duplicate key"]
    (written,) = _fail_every_error(src)
    assert _shape(_errors(Path(written))) == _shape(before)


def test_failed_elements_of_a_json_document_come_back_from_jsonl(tmp_path: Path) -> None:
    src = tmp_path / "preds.json"
    src.write_text('[\n  {"sample_uuid": "a"},\n  "not a row",\n  {"k": 1, "k": 2}\n]\n')
    before = _errors(src)
    assert len(before) == 2
    (written,) = _fail_every_error(src)
    assert written == str(tmp_path / "preds.failed.jsonl")
    assert [e.reason for e in _errors(Path(written))] == [e.reason for e in before]

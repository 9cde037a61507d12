"""When a dry run groups sequence rows (every label when the offline stream is off or
gives up; the labels it hands back otherwise), a decoded row of a plain file is kept by
its byte offset, not its bytes (``rawlines.py``), and the rows of a failed label are read
again from the file.

Whatever way the rows took (a plain file by offset; gzip and stdin by their bytes, since
they cannot be read again), a run's outcomes are the same: failures name the same lines, with the same rows, in the same order. A file that
changed before its rows were read again stops the run with a clear error."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from seqkit import CATEGORIES

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.errors import InputFileError
from upload_preds.pipeline import Preparer
from upload_preds.records import Failure, LabelJob, Notice, PlannedLabelJob, Skip

CATS = Categories([(c["id"], c["name"]) for c in CATEGORIES], "image-vector-sequence")


def _rows(sample: str, frames: int) -> list[dict[str, Any]]:
    return [
        {
            "sample_uuid": sample,
            "frame": f,
            "annotations": [
                {
                    "category": "car",
                    "bbox": [f, 2, f + 9, 7.5],
                    "track_id": 1,
                    "score": 0.25 + f / 10,
                }
            ],
        }
        for f in range(frames)
    ]


def _broken() -> list[dict[str, Any]]:
    """A label whose track 1 changes category at frame 3."""
    rows = _rows("broken", 5)
    rows[3]["annotations"][0]["category"] = "person"
    return rows


def _lines() -> list[bytes]:
    """Two good labels and one whose track changes category, interleaved, with a BOM on
    the first line, CRLF ends and a blank line (so offsets do not follow line numbers)."""
    good, other, broken = _rows("good", 5), _rows("other", 5), _broken()
    rows = [r for trio in zip(good, broken, other, strict=True) for r in trio]
    lines = [orjson.dumps(r) + (b"\r\n" if i % 3 == 1 else b"\n") for i, r in enumerate(rows)]
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    lines.insert(4, b"\n")
    return lines


def _outcomes(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, LabelJob):
            out.append(("label", item.sample_uuid, item.score, [loc.line for loc in item.locs]))
        elif isinstance(item, Failure):
            errs = [(e.loc.line, e.field, e.reason) for e in item.errors]
            out.append(("failure", errs, [(loc.line, row) for loc, row in item.rows]))
        elif isinstance(item, Skip):
            out.append(("skip", item.message, [(loc.line, row) for loc, row in item.rows]))
    return out


def _dry(
    path: str, stdin: Any = None, on_duplicate: Any = "error", *, stream: bool = False
) -> list[Any]:
    """A dry run's items, outcomes taken while the input is there (a streamed label
    lists its lines by reading them again). ``stream``: the offline dry run's stream
    (seqstream.py) plans the labels that pass and groups only the others; without it,
    every label is grouped (as when the stream gives up)."""
    conv = Converter(ConvertOptions(frames=6), CATS)
    with Preparer([path], conv, stdin=stdin, on_duplicate=on_duplicate) as prep:
        prep.stream_sequences = stream
        prep.single_pass(lambda job: None)
        items = list(prep.items())
        return [*items, _outcomes(items)]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("on_duplicate", ["error", "last"])
def test_a_failed_labels_rows_read_again_by_offset_are_the_rows_of_every_other_way(
    tmp_path: Path, on_duplicate: str, stream: bool
) -> None:
    data = b"".join(_lines())
    plain = tmp_path / "p.jsonl"
    plain.write_bytes(data)
    packed = tmp_path / "p.jsonl.gz"
    packed.write_bytes(gzip.compress(data))

    *by_offset, expected = _dry(str(plain), on_duplicate=on_duplicate, stream=stream)
    broken = [i for i in by_offset if isinstance(i, Failure)]
    assert [e.loc.line for f in broken for e in f.errors] == [2, 6, 9, 12, 15]
    assert {i.sample_uuid for i in by_offset if isinstance(i, PlannedLabelJob)} == {
        "good",
        "other",
    }
    assert _dry(str(packed), on_duplicate=on_duplicate, stream=stream)[-1] == expected
    assert _dry("-", io.BytesIO(data), on_duplicate, stream=stream)[-1] == expected
    assert _dry(str(plain), on_duplicate=on_duplicate, stream=not stream)[-1] == expected


def test_the_failed_rows_of_a_dry_run_are_the_input_rows(tmp_path: Path) -> None:
    plain = tmp_path / "p.jsonl"
    plain.write_bytes(b"".join(_lines()))
    failures = [i for i in _dry(str(plain))[:-1] if isinstance(i, Failure)]
    assert [row for f in failures for _, row in f.rows] == _broken()
    assert [loc.line for f in failures for loc, _ in f.rows] == [2, 6, 9, 12, 15]


def test_a_file_changed_before_its_rows_are_read_again_stops_the_run(tmp_path: Path) -> None:
    plain = tmp_path / "p.jsonl"
    plain.write_bytes(b"".join(_lines()) + b"\n")  # a blank last line: a notice once all is read
    conv = Converter(ConvertOptions(frames=6), CATS)
    with Preparer([str(plain)], conv) as prep:
        prep.stream_sequences = False  # (the stream would read the file a second time)
        prep.single_pass(lambda job: None)
        items = prep.items()
        for item in items:
            if isinstance(item, Notice) and item.loc.line > 10:
                break  # every line was read; no label was made yet
        # (Line 2, the label's first row, went the full way: it keeps its bytes.)
        plain.write_bytes(b"x" * plain.stat().st_size)
        with pytest.raises(InputFileError, match=r"p\.jsonl:6: changed while it was read"):
            list(items)

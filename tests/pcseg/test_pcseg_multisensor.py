"""Segmentation sensors of a camera + LiDAR rig: per-frame rows of a
``pointcloud-segmentation-sequence`` sensor (``point_labels_path``) and of an
``image-segmentation-sequence`` sensor (``mask_path``), mixed in one file (JSON
or CSV) with the rig's cuboid and box rows, become one ``multisensor-sequence``
label, each sensor in its own task type's format.

Through the sandbox: uploaded by the CLI, read back with the official SDK client
(which validates with its models) and compared with the files: each frame's
point ids against its ``.label`` file, each frame's bitmap downloaded and compared
pixel by pixel; a rerun sends nothing. Point counts per frame come from the
sample's ``metadata.point_count`` of that sensor; a wrong count, an unreadable
mask or an unknown sensor fails that label only, every row of it in the
failures file with its own ``_error``.
"""

from __future__ import annotations

import csv
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pcsegkit import (
    CATEGORIES,
    CLASS_MAP,
    check_mask_frames,
    check_point_frame,
    ids_of_png,
    make_scan,
    write_label,
    write_mask,
)
from segments import SegmentsClient

from clikit import Result, cli_env, run_cli, write_jsonl
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.records import LabelJob, Location, Record, RowError
from upload_preds.sandbox import SandboxHandle, start_sandbox
from upload_preds.sandbox.faults import Faults

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "convert"))
from convkit import sdk_check

KEY = "sk-test-pcseg-multisensor"
TT = "multisensor-sequence"
POINTS = 1200
H, W = 12, 16
#: The rig: sensor → (task type, frames).
RIG = {
    "lidar": ("pointcloud-cuboid-sequence", 3),
    "lidar-seg": ("pointcloud-segmentation-sequence", 3),
    "camera": ("image-vector-sequence", 4),
    "camera-seg": ("image-segmentation-sequence", 4),
}
SCENES = ("scene-0", "scene-1", "scene-2", "scene-3")


def sample_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pcseg-multisensor/{name}"))


def manifest() -> dict[str, Any]:
    def sample(name: str) -> dict[str, Any]:
        sensors = []
        for sensor, (task_type, n) in RIG.items():
            base = f"https://example.invalid/{name}/{sensor}"
            frames = [
                {"image": {"url": f"{base}/{f}.png"}}
                if task_type.startswith("image")
                else {"pcd": {"url": f"{base}/{f}.bin", "type": "kitti"}}
                for f in range(n)
            ]
            sensors.append(
                {"name": sensor, "task_type": task_type, "attributes": {"frames": frames}}
            )
        return {
            "uuid": sample_uuid(name),
            "name": name,
            "attributes": {"sensors": sensors},
            # The LiDAR segmentation sensor's points, one count per frame.
            "metadata": {"point_count": {"lidar-seg": [POINTS] * RIG["lidar-seg"][1]}},
            "labels": {},
        }

    return {
        "datasets": [
            {
                "owner": "test",
                "name": "rig",
                "task_type": TT,
                "task_attributes": {
                    "format_version": "0.1",
                    "categories": CATEGORIES,
                    "sensors": [{"name": n, "task_type": t} for n, (t, _) in RIG.items()],
                },
                "labelsets": [{"name": "ground-truth", "description": ""}],
                "samples": [sample(n) for n in SCENES],
            }
        ]
    }


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with start_sandbox(data=manifest(), db=tmp_path / "sandbox.db", api_key=KEY) as sb:
        yield sb


def upload(sb: SandboxHandle, tmp: Path, rows_file: str, *extra: str) -> Result:
    (tmp / "map.json").write_text(json.dumps(CLASS_MAP))
    return run_cli(
        [
            rows_file,
            "--dataset",
            "test/rig",
            "--category-map",
            "map.json",
            "--state",
            str(tmp / "journal.sqlite3"),
            "--failures",
            "failed" + Path(rows_file).suffix,
            *extra,
        ],
        env=cli_env(sb.url, KEY),
        cwd=tmp,
    )


def read_back(sb: SandboxHandle, name: str) -> dict[str, Any]:
    """The label as the SDK client reads it (its models validate it on the way)."""
    with SegmentsClient(KEY, api_url=sb.url) as sdk:
        label = sdk.get_label(sample_uuid(name), "ground-truth")
    attrs: dict[str, Any] = label.attributes.model_dump(mode="json", exclude_unset=True)
    return attrs


def labelled(sb: SandboxHandle) -> list[str]:
    """The scenes that have a ground-truth label, read with the SDK client."""
    from segments.exceptions import NotFoundError

    out = []
    with SegmentsClient(KEY, api_url=sb.url) as sdk:
        for name in SCENES:
            try:
                sdk.get_label(sample_uuid(name), "ground-truth")
            except NotFoundError:
                continue
            out.append(name)
    return out


# -- the rows of one scene ---------------------------------------------------------------


def _mask_ids(f: int) -> np.ndarray[Any, Any]:
    ids = np.zeros((H, W), np.int64)
    ids[1 : 5 + f, 2:8] = 1
    ids[6:10, 9 : 12 + f] = 2
    return ids


MASK_ANNS = [{"id": 1, "category": "car"}, {"id": 2, "category": "person"}]
SCAN_FRAMES = (0, 2)  # frame 1 of the LiDAR segmentation sensor has no row
MASK_FRAMES = (0, 1, 3)


def scene_files(tmp: Path, scene: str, seed: int) -> dict[str, Any]:
    """Write a scene's scans and masks; what they say, for the comparisons."""
    scans = {}
    for f in SCAN_FRAMES:
        scans[f] = make_scan(seed=seed + f)
        write_label(tmp / scene / f"{f:06d}.label", scans[f])
    masks = {}
    for f in MASK_FRAMES:
        masks[f] = _mask_ids(f)
        write_mask(tmp / scene / f"m{f}.png", masks[f])
    return {"scans": scans, "masks": masks}


def scene_rows(scene: str) -> list[dict[str, Any]]:
    """Every sensor's rows of one scene, as JSON rows (interleaved as a rig writes them)."""
    rows: list[dict[str, Any]] = []
    for f in range(4):
        if f < 3:
            cuboid = {
                "type": "cuboid",
                "category": "car",
                "track_id": 1,
                "position": [float(f), 2.0, 0.5],
                "dimensions": [4.0, 2.0, 1.5],
                "yaw": 0.1,
            }
            rows.append(
                {"sample_name": scene, "sensor": "lidar", "frame": f, "annotations": [cuboid]}
            )
        if f in SCAN_FRAMES:
            rows.append(
                {
                    "sample_name": scene,
                    "sensor": "lidar-seg",
                    "frame": f,
                    "point_labels_path": f"{scene}/{f:06d}.label",
                }
            )
        box = {"category": "person", "track_id": 4, "bbox": [1, 2, 9, 11]}
        rows.append({"sample_name": scene, "sensor": "camera", "frame": f, "annotations": [box]})
        if f in MASK_FRAMES:
            rows.append(
                {
                    "sample_name": scene,
                    "sensor": "camera-seg",
                    "frame": f,
                    "mask_path": f"{scene}/m{f}.png",
                    "annotations": MASK_ANNS,
                }
            )
    return rows


CSV_HEADER = [
    "sample_name",
    "sensor",
    "frame",
    "track_id",
    "category",
    "x",
    "y",
    "z",
    "length",
    "width",
    "height",
    "yaw",
    "point_labels_path",
    "mask_path",
    "mask_kind",
    "annotations",
]


def csv_lines(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The same rows as CSV lines of one header (the camera's boxes stay in JSON: a
    header with cuboid columns has no box columns)."""
    out = []
    for r in rows:
        cells = dict.fromkeys(CSV_HEADER, "")
        cells.update(sample_name=r["sample_name"], sensor=r["sensor"], frame=str(r["frame"]))
        if r["sensor"] == "lidar":
            (a,) = r["annotations"]
            x, y, z = a["position"]
            length, width, height = a["dimensions"]
            cells.update(track_id=str(a["track_id"]), category=a["category"], yaw=str(a["yaw"]))
            cells.update(x=str(x), y=str(y), z=str(z))
            cells.update(length=str(length), width=str(width), height=str(height))
        elif r["sensor"] == "lidar-seg":
            cells["point_labels_path"] = r["point_labels_path"]
        elif r["sensor"] == "camera-seg":
            cells["mask_path"] = r["mask_path"]
            cells["annotations"] = json.dumps(r["annotations"])
        else:
            continue
        out.append(cells)
    return out


def write_csv(path: Path, lines: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_HEADER)
        writer.writeheader()
        writer.writerows(lines)


def check_scene(attrs: dict[str, Any], files: dict[str, Any], camera: bool = True) -> None:
    """A label read back says what the scene's rows and files say, sensor by sensor."""
    sdk_check(TT, attrs)
    sensors = {s["name"]: s for s in attrs["sensors"]}
    assert [(n, s["task_type"]) for n, s in sensors.items()] == [
        (n, t) for n, (t, _) in RIG.items()
    ]
    lidar = sensors["lidar"]["attributes"]
    assert [[a["track_id"] for a in fr["annotations"]] for fr in lidar["frames"]] == [[1]] * 3
    if camera:
        cam = sensors["camera"]["attributes"]["frames"]
        assert [fr["annotations"][0]["points"] for fr in cam] == [[[1, 2], [9, 11]]] * 4
    seg = sensors["lidar-seg"]["attributes"]
    sdk_check("pointcloud-segmentation-sequence", seg)
    assert len(seg["frames"]) == RIG["lidar-seg"][1]
    tracks: dict[int, int] = {}
    for f, frame in enumerate(seg["frames"]):
        ids = frame["point_annotations"]
        assert len(ids) == POINTS  # every frame fits its sample's count (frame 1: zeros)
        if f not in files["scans"]:
            assert frame["annotations"] == []
            assert not any(ids)
            continue
        check_point_frame(frame, files["scans"][f], tracks)  # --category-map, per point
    masks = sensors["camera-seg"]["attributes"]
    sdk_check("image-segmentation-sequence", masks)
    assert len(masks["frames"]) == RIG["camera-seg"][1]
    assert masks["frames"][2]["annotations"] == []
    check_mask_frames(masks["frames"], files["masks"])


# -- through the sandbox -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_rigs_segmentation_sensors_round_trip(
    sandbox: SandboxHandle, tmp_path: Path, fmt: str
) -> None:
    files = {s: scene_files(tmp_path, s, seed=10 * i) for i, s in enumerate(SCENES[:2])}
    rows = [r for s in SCENES[:2] for r in scene_rows(s)]
    rows.reverse()  # any order: one label per sample
    if fmt == "jsonl":
        write_jsonl(tmp_path / "rows.jsonl", rows)
    else:
        write_csv(tmp_path / "rows.csv", csv_lines(rows))
    res = upload(sandbox, tmp_path, f"rows.{fmt}")
    assert res.code == 0, res.stderr
    for scene in SCENES[:2]:
        check_scene(read_back(sandbox, scene), files[scene], camera=fmt == "jsonl")
    # Unchanged rows and masks: the rerun sends nothing (the journal knows the masks).
    res = upload(sandbox, tmp_path, f"rows.{fmt}")
    assert res.code == 0, res.stderr
    assert "labels uploaded  0" in res.stderr
    # One changed mask: that scene's label (and its bitmaps) is sent again, only it.
    files["scene-1"]["masks"][3][0, 0] = 2
    write_mask(tmp_path / "scene-1" / "m3.png", files["scene-1"]["masks"][3])
    res = upload(sandbox, tmp_path, f"rows.{fmt}")
    assert res.code == 0, res.stderr
    assert "labels uploaded  1" in res.stderr
    check_scene(read_back(sandbox, "scene-1"), files["scene-1"], camera=fmt == "jsonl")


def test_masks_and_labels_get_through_server_errors(sandbox: SandboxHandle, tmp_path: Path) -> None:
    """A third of all requests (asset creations, the masks' posts, label PUTs) fail with a
    5xx: every mask is uploaded with the engine's retries, then its label."""
    files = {s: scene_files(tmp_path, s, seed=5 * i) for i, s in enumerate(SCENES)}
    write_jsonl(tmp_path / "rows.jsonl", [r for s in SCENES for r in scene_rows(s)])
    sandbox.set_faults(Faults(error_rate=0.3), seed=3)
    res = upload(sandbox, tmp_path, "rows.jsonl", "--json")
    sandbox.set_faults(Faults(), seed=None)
    assert res.code == 0, res.stderr
    assert res.report()["retries"] > 0
    for scene in SCENES:
        check_scene(read_back(sandbox, scene), files[scene])


def test_the_dry_run_plans_one_label_per_scene(sandbox: SandboxHandle, tmp_path: Path) -> None:
    for i, s in enumerate(SCENES[:2]):
        scene_files(tmp_path, s, seed=i)
    rows = [r for s in SCENES[:2] for r in scene_rows(s)]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    res = upload(sandbox, tmp_path, "rows.jsonl", "--dry-run", "--json")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["counts"]["rows"] == len(rows)
    assert report["labels"]["converted"] == 2
    # Per scene: 3 cuboids, 4 boxes, 2 masks' objects in 3 frames, 7 point groups in 2.
    assert report["annotations"]["by_type"] == {"cuboid": 6, "bbox": 8, "segment": 2 * (6 + 14)}
    assert report["skipped_by_reason"] == {"would upload": len(rows)}
    assert "labels        2 (ground-truth 2)" in res.stderr
    assert "frame counts: 4 sequence samples" in res.stderr  # not 8: each sample once
    # The point counts are checked in a dry run too: scene-1's label would fail.
    write_label(tmp_path / "scene-1" / "000000.label", make_scan()[:900])
    res = upload(sandbox, tmp_path, "rows.jsonl", "--dry-run", "--json")
    assert res.code == 1, res.stderr
    counts = res.report()["counts"]
    assert counts == {"rows": len(rows), "uploaded": 0, "skipped": 12, "failed": 12}
    assert labelled(sandbox) == []  # nothing was sent


def test_bad_files_fail_their_label_only(sandbox: SandboxHandle, tmp_path: Path) -> None:
    files = {s: scene_files(tmp_path, s, seed=i) for i, s in enumerate(SCENES)}
    # scene-1: frame 2's scan has 900 ids for a cloud of 1,200 points.
    write_label(tmp_path / "scene-1" / "000002.label", make_scan()[:900])
    # scene-2: frame 1's mask is not a PNG.
    (tmp_path / "scene-2" / "m1.png").write_bytes(b"not a png at all")
    rows = [r for s in SCENES for r in scene_rows(s)]
    # scene-3: one row names a sensor the rig does not have.
    bad_sensor = next(i for i, r in enumerate(rows) if r["sample_name"] == "scene-3")
    rows[bad_sensor] = {**rows[bad_sensor], "sensor": "radar"}
    write_jsonl(tmp_path / "rows.jsonl", rows)
    res = upload(sandbox, tmp_path, "rows.jsonl")
    assert res.code == 1, res.stderr
    check_scene(read_back(sandbox, "scene-0"), files["scene-0"])
    assert labelled(sandbox) == ["scene-0"]
    failed = [json.loads(x) for x in (tmp_path / "failed.jsonl").read_text().splitlines()]
    per_scene = len(scene_rows("scene-0"))
    by_scene: dict[str, list[dict[str, Any]]] = {}
    for f in failed:
        by_scene.setdefault(f["sample_name"], []).append(f)
    # Every row of a failed label, each with its own error; no row of scene-0.
    assert sorted(by_scene) == ["scene-1", "scene-2", "scene-3"]
    assert all(len(v) == per_scene for v in by_scene.values())
    assert all(f.get("_error") for f in failed)

    def own(scene: str, **match: Any) -> str:
        (hit,) = [f for f in by_scene[scene] if all(f.get(k) == v for k, v in match.items())]
        return str(hit["_error"])

    assert (
        "sensor 'lidar-seg', frame 2: scene-1/000002.label has 900 ids but the point cloud "
        "has 1,200" in own("scene-1", sensor="lidar-seg", frame=2)
    )
    assert "scene-2/m1.png" in own("scene-2", sensor="camera-seg", frame=1)
    assert "unknown sensor 'radar'" in own("scene-3", sensor="radar")
    assert "not uploaded because its label failed" in own("scene-3", sensor="camera-seg", frame=0)
    # file:line of each culprit on stderr (the others name it as the line that failed).
    line_of = {id(r): n for n, r in enumerate(rows, 1)}
    culprit = next(
        r for r in rows if r["sample_name"] == "scene-2" and r.get("mask_path") == "scene-2/m1.png"
    )
    assert f"line {line_of[id(culprit)]} of the same label" in res.stderr
    assert f"rows.jsonl:{bad_sensor + 1} scene-3: sensor: unknown sensor 'radar'" in res.stderr


def test_the_sandbox_holds_each_sensor_to_its_frames_and_points(sandbox: SandboxHandle) -> None:
    def label(seg_frames: int, points: int) -> dict[str, Any]:
        frame = {
            "format_version": "0.2",
            "annotations": [{"id": 7, "category_id": 1, "track_id": 7, "is_keyframe": True}],
            "point_annotations": [7] * points,
        }
        seg = {"format_version": "0.2", "frames": [frame] * seg_frames}
        return {
            "sensors": [{"name": "lidar-seg", "task_type": RIG["lidar-seg"][0], "attributes": seg}]
        }

    url = f"{sandbox.url.rstrip('/')}/labels/{sample_uuid('scene-0')}/ground-truth/"
    headers = {"Authorization": f"APIKey {KEY}"}

    def put(attrs: dict[str, Any]) -> httpx.Response:
        return httpx.put(url, json={"attributes": attrs}, headers=headers)

    assert put(label(3, POINTS)).status_code in (200, 201)
    r = put(label(2, POINTS))
    assert r.status_code == 400
    assert "sensors[0].attributes.frames: 2 frames for a sample of 3" in r.text
    r = put(label(3, POINTS - 1))
    assert r.status_code == 400
    assert "sensors[0].attributes.frames[0].point_annotations" in r.text


# -- conversion (offline) ------------------------------------------------------------------


def rig_converter(**options: Any) -> Converter:
    ta = {
        "categories": CATEGORIES,
        "sensors": [{"name": n, "task_type": t} for n, (t, _) in RIG.items()],
    }
    cats = Categories.from_task_attributes(ta, TT)
    return Converter(ConvertOptions(**options), cats)


def convert(
    conv: Converter, rows: list[dict[str, Any]], file: Path, frames: Any
) -> LabelJob | list[RowError]:
    items = []
    key = None
    for i, row in enumerate(rows, start=1):
        loc = Location(str(file), i)
        k = conv.sequence_key(Record(loc, "jsonl", row))  # type: ignore[arg-type]
        assert isinstance(k, str), k
        key = k
        items.append((loc, {"r": row}))
    assert key is not None
    return conv.convert_sequence(key, items, frames)


def test_point_labels_kind_and_category_map_apply_to_the_sensor(tmp_path: Path) -> None:
    # Class ids as the point labels (--point-labels-kind class): one track per class.
    raw = make_scan([(40, 0, 400), (50, 0, 250), (10, 0, 100), (30, 0, 40), (0, 0, 20)])
    write_label(tmp_path / "s" / "0.label", raw)
    row = {"sample_name": "s", "sensor": "lidar-seg", "frame": 1, "point_labels_path": "s/0.label"}
    frames = {n: f for n, (_, f) in RIG.items()}
    conv = rig_converter(class_map=CLASS_MAP, point_labels_kind="class")
    job = convert(conv, [row], tmp_path / "rows.jsonl", frames)
    assert isinstance(job, LabelJob), job
    sdk_check(TT, job.attributes)
    seg = job.attributes["sensors"][1]["attributes"]
    ids = {a["id"]: a["category_id"] for a in seg["frames"][1]["annotations"]}
    assert ids == {10: 1, 30: 2, 40: 3, 50: 4}  # the class id is the track id
    assert seg["frames"][0]["point_annotations"] == []  # no count known offline: the
    # uploader fills it from the sample (or --points), see the sandbox tests
    # Without the map the raw class ids are not the dataset's categories: a row error.
    res = convert(rig_converter(), [row], tmp_path / "rows.jsonl", frames)
    assert isinstance(res, list)
    assert res[0].field == "point_labels_path"
    assert "have no dataset category" in res[0].message
    # --points: the count is checked per frame, in the row.
    res = convert(rig_converter(class_map=CLASS_MAP, points=5), [row], tmp_path / "r.jsonl", frames)
    assert isinstance(res, list)
    assert "has 810 ids but the point cloud has 5 points" in res[0].message


def test_a_segmentation_sensors_frame_rules(tmp_path: Path) -> None:
    write_label(tmp_path / "s" / "0.label", make_scan())
    row = {"sample_name": "s", "sensor": "lidar-seg", "frame": 0, "point_labels_path": "s/0.label"}
    frames = {n: f for n, (_, f) in RIG.items()}
    conv = rig_converter(class_map=CLASS_MAP)
    res = convert(conv, [row, {**row}], tmp_path / "r.jsonl", frames)
    assert isinstance(res, list)
    assert "frame 0 is already given at line 1" in res[1].message
    res = convert(conv, [{**row, "frame": 3}], tmp_path / "r.jsonl", frames)
    assert isinstance(res, list)
    assert "frame 3 is out of range: the sample has 3 frame(s)" in res[0].message
    # A cuboid cell in a segmentation frame row is not silently dropped.
    res = convert(conv, [{**row, "track_id": 3}], tmp_path / "r.jsonl", frames)
    assert isinstance(res, list)
    assert (res[0].field, res[0].reason) == ("track_id", "unknown field")


def test_csv_lines_of_a_segmentation_sensor(tmp_path: Path) -> None:
    write_mask(tmp_path / "m0.png", _mask_ids(0))
    frames = {n: f for n, (_, f) in RIG.items()}

    def line(**cells: str) -> tuple[str, dict[str, str]]:
        return ("csv", {**dict.fromkeys(CSV_HEADER, ""), "sample_name": "s", **cells})

    mask = line(sensor="camera-seg", frame="0", mask_path="m0.png", mask_kind="class")
    cuboid = line(
        sensor="lidar", frame="0", track_id="1", category="car", yaw="0", x="1", y="2", z="0"
    )
    cuboid[1].update(length="4", width="2", height="1.5")
    conv = rig_converter()
    job = csv_convert(conv, [mask, cuboid], tmp_path / "rows.csv", frames)
    assert isinstance(job, LabelJob), job
    sdk_check(TT, job.attributes)
    seg = job.attributes["sensors"][3]["attributes"]
    # mask_kind class: the pixel values are category ids, each one object (track).
    assert [(a["id"], a["category_id"]) for a in seg["frames"][0]["annotations"]] == [
        (1, 1),
        (2, 2),
    ]
    assert len(job.extra["assets"]) == 1
    # A frame's column filled in an object's line is an error, not dropped; so is a frame
    # line's bad frame cell; each names its column.
    cuboid[1]["mask_path"] = "m0.png"
    bad_frame = line(sensor="lidar-seg", frame="two", point_labels_path="x.label")
    res = csv_convert(conv, [mask, cuboid, bad_frame], tmp_path / "rows.csv", frames)
    assert isinstance(res, list)
    assert (res[1].field, res[1].reason) == ("mask_path", "bad CSV columns")
    assert "column mask_path is for the frame lines of segmentation" in res[1].message
    assert (res[2].field, res[2].message) == ("frame", "should be a whole number from 0, got 'two'")


def csv_convert(
    conv: Converter, lines: list[tuple[str, dict[str, str]]], file: Path, frames: Any
) -> LabelJob | list[RowError]:
    items = []
    key = None
    for i, (fmt, cells) in enumerate(lines, start=2):
        loc = Location(str(file), i)
        k = conv.sequence_key(Record(loc, fmt, cells))  # type: ignore[arg-type]
        assert isinstance(k, str), k
        key = k
        items.append((loc, {"c": cells, "t": fmt}))
    assert key is not None
    return conv.convert_sequence(key, items, frames)


README = Path(__file__).resolve().parents[2] / "README.md"
LEARNING_MAP = (
    Path(__file__).resolve().parents[2] / "sample_data" / "semantickitti_learning_map.json"
)


def readme_example() -> tuple[list[str], list[str]]:
    """The JSON rows and the CSV lines of the README's "Segmentation sensors" example."""
    text = README.read_text()
    start = text.index("#### Segmentation sensors")
    section = text[start : text.index("\n### ", start)]
    block = [ln[4:] for ln in section.splitlines() if ln.startswith("    ")]
    rows = [ln for ln in block if ln.startswith("{")]
    first = block.index(next(ln for ln in block if ln.startswith("sample_name,sensor")))
    csv_block = []
    for ln in block[first:]:
        if not ln.startswith(("sample_name", "scene_07")):
            break
        csv_block.append(ln)
    return rows, csv_block


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_the_readmes_rig_example_converts(tmp_path: Path, fmt: str) -> None:
    rows, lines = readme_example()
    assert len(rows) == 4
    assert len(lines) == 5
    (tmp_path / "rig.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "rig.csv").write_text("\n".join(lines) + "\n")
    # The files the example names: two sweeps of car/person/road points, one mask.
    for f in (0, 1):
        scan = make_scan([(40, 0, 300), (10, 1, 80), (30, 2, 20), (0, 0, 10)], seed=f)
        write_label(tmp_path / "labels" / "scene_07" / f"{f:06d}.label", scan)
    ids = np.zeros((H, W), np.int64)
    ids[2:6, 2:6], ids[7:10, 8:12] = 1, 2
    write_mask(tmp_path / "masks" / "scene_07" / "0.png", ids)
    cats = [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}, {"id": 3, "name": "road"}]
    sensors = {
        "lidar": "pointcloud-cuboid-sequence",
        "lidar-seg": "pointcloud-segmentation-sequence",
        "camera-seg": "image-segmentation-sequence",
    }
    ta = {"categories": cats, "sensors": [{"name": n, "task_type": t} for n, t in sensors.items()]}
    (tmp_path / "rig.json").write_text(json.dumps({"task_type": TT, "task_attributes": ta}))
    res = run_cli(
        [
            f"rig.{fmt}",
            "--categories",
            "rig.json",
            "--category-map",
            str(LEARNING_MAP),
            "--output-labels",
            "out.jsonl",
        ],
        env=cli_env("http://127.0.0.1:9/", ""),
        cwd=tmp_path,
    )
    assert res.code == 0, res.stderr
    (label,) = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    attrs = label["attributes"]
    sdk_check(TT, attrs)
    lidar_seg = attrs["sensors"][1]["attributes"]
    assert [len(f["point_annotations"]) for f in lidar_seg["frames"]] == [410, 410]
    # SemanticKITTI ids are tracks: car instance 1 is 65,546 in both sweeps; road is 40.
    assert {(a["id"], a["category_id"]) for a in lidar_seg["frames"][1]["annotations"]} == {
        (40, 3),
        (65546, 1),
        (131102, 2),
    }
    camera = attrs["sensors"][2]["attributes"]["frames"][0]
    assert [(a["id"], a["category_id"]) for a in camera["annotations"]] == [(1, 1), (2, 2)]
    png = (tmp_path / camera["segmentation_bitmap"]["url"]).read_bytes()
    assert (ids_of_png(png) == ids).all()


def test_csv_lines_of_a_single_segmentation_sequence(tmp_path: Path) -> None:
    """The frame columns serve a plain segmentation sequence dataset too (no sensor)."""
    write_label(tmp_path / "s" / "0.label", make_scan(seed=2))
    cats = Categories.from_task_attributes(
        {"categories": CATEGORIES}, "pointcloud-segmentation-sequence"
    )
    conv = Converter(ConvertOptions(class_map=CLASS_MAP), cats)
    cells = {"sample_name": "s", "frame": "1", "point_labels_path": "s/0.label", "mask_path": ""}
    job = csv_convert(conv, [("csv", cells)], tmp_path / "rows.csv", 3)
    assert isinstance(job, LabelJob), job
    sdk_check("pointcloud-segmentation-sequence", job.attributes)
    assert [len(f["annotations"]) for f in job.attributes["frames"]] == [0, 7, 0]
    # A column of another form is named, not dropped.
    res = csv_convert(conv, [("csv", {**cells, "sensor": "lidar"})], tmp_path / "r.csv", 3)
    assert isinstance(res, list)
    assert (res[0].field, res[0].reason) == ("sensor", "unknown field")
    assert res[0].message.startswith("unknown column of a frame line (known: ")

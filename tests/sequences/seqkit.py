"""Helpers of the sequence tests (imported by the test modules as ``seqkit``).

:func:`manifest` seeds a sandbox with two sequence datasets whose samples have a
known number of frames; :func:`sdk_model` is the official SDK's model of a
sequence label, the independent check of every label the tests produce.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segments.typing as st
from segments import SegmentsClient

from clikit import Result, cli_env, run_cli
from upload_preds.sandbox import SandboxHandle

CATEGORIES = [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}, {"id": 3, "name": "bike"}]
#: Video samples: name → frame count.
VIDEOS = {"vid-a": 6, "vid-b": 3, "vid-c": 4}
#: LiDAR sequence samples: name → frame count.
SCANS = {"scan-a": 4, "scan-b": 2}

SDK_MODELS: dict[str, type[Any]] = {
    "image-vector-sequence": st.ImageSequenceVectorLabelAttributes,
    "pointcloud-cuboid-sequence": st.PointcloudSequenceCuboidLabelAttributes,
}


def sample_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "seq-test/" + name))


def _video(name: str, n: int, labels: dict[str, Any] | None = None) -> dict[str, Any]:
    frames = [{"image": {"url": f"https://example.invalid/{name}/{i}.jpg"}} for i in range(n)]
    return {
        "uuid": sample_uuid(name),
        "name": name,
        "attributes": {"frames": frames},
        "metadata": {},
        "labels": labels or {},
    }


def _scan(name: str, n: int) -> dict[str, Any]:
    frames = [
        {"pcd": {"url": f"https://example.invalid/{name}/{i}.pcd", "type": "pcd"}} for i in range(n)
    ]
    return {
        "uuid": sample_uuid(name),
        "name": name,
        "attributes": {"frames": frames},
        "metadata": {},
        "labels": {},
    }


#: A video whose ground-truth label a person made (the guard protects it).
HUMAN = "vid-human"


def manifest() -> dict[str, Any]:
    human_label = {
        "label_status": "LABELED",
        "score": None,
        "attributes": {"format_version": "0.1", "frames": [{"annotations": []}] * 2},
    }
    videos = [_video(n, k) for n, k in VIDEOS.items()]
    videos.append(_video(HUMAN, 2, {"ground-truth": human_label}))
    labelsets = [{"name": "ground-truth", "description": ""}]
    return {
        "datasets": [
            {
                "owner": "test",
                "name": "video",
                "task_type": "image-vector-sequence",
                "task_attributes": {"format_version": "0.1", "categories": CATEGORIES},
                "labelsets": labelsets,
                "samples": videos,
            },
            {
                "owner": "test",
                "name": "lidar",
                "task_type": "pointcloud-cuboid-sequence",
                "task_attributes": {"format_version": "0.1", "categories": CATEGORIES},
                "labelsets": labelsets,
                "samples": [_scan(n, k) for n, k in SCANS.items()],
            },
        ]
    }


def sdk_model(task_type: str, attributes: dict[str, Any]) -> Any:
    """The SDK's model of the label; its dump must equal ours (nothing dropped or added)."""
    model = SDK_MODELS[task_type].model_validate(attributes)
    assert model.model_dump(mode="json", exclude_unset=True) == attributes
    return model


def categories_file(tmp: Path, task_type: str = "image-vector-sequence") -> Path:
    path = tmp / f"{task_type}.json"
    path.write_text(
        json.dumps(
            {
                "task_type": task_type,
                "task_attributes": {"format_version": "0.1", "categories": CATEGORIES},
            }
        )
    )
    return path


def box_row(
    name: str, frame: int, track: int, category: str, score: float, **kw: Any
) -> dict[str, Any]:
    """One per-frame row: one box of one track in one frame (as a tracker writes it)."""
    x = 10.0 * track + frame
    ann = {
        "category": category,
        "bbox": [x, 20.0, x + 30.0, 60.0],
        "track_id": track,
        "score": score,
    }
    return {"sample_name": name, "frame": frame, "annotations": [ann], **kw}


@dataclass
class SeqEnv:
    """One sandbox with the sequence datasets, and a CLI runner against it."""

    sandbox: SandboxHandle
    key: str
    journal: Path
    tmp: Path

    def run(self, *args: str | Path, timeout: float = 180) -> Result:
        return run_cli(
            [*map(str, args), "--state", str(self.journal)],
            env=cli_env(self.sandbox.url, self.key),
            cwd=self.tmp,
            timeout=timeout,
        )

    def sdk(self) -> SegmentsClient:
        return SegmentsClient(self.key, api_url=self.sandbox.url)

    def label(self, name: str, labelset: str = "ground-truth") -> Any:
        """The label read back by the official SDK (which validates it with its models)."""
        with self.sdk() as client:
            return client.get_label(sample_uuid(name), labelset)

    def has_label(self, name: str, labelset: str = "ground-truth") -> bool:
        from segments.exceptions import NotFoundError

        try:
            self.label(name, labelset)
        except NotFoundError:
            return False
        return True

    def label_puts(self) -> int:
        stats = self.sandbox.stats()
        route = "/labels/{sample_uuid}/{labelset}/"
        return sum(stats["requests"].get("PUT", {}).get(route, {}).values())


def planned_and_full(rules: Any, rows: list[dict[str, Any]], frames: int | None) -> tuple[Any, Any]:
    """One label of ``rows`` (sample "u", lines 1..n of p.jsonl) two ways: planned from
    the fast path's compact objects as the grouping spills them (a JSON round trip),
    and converted the full way; the plan answers exactly for the labels that pass."""
    import orjson

    from upload_preds.convert.seqfast import fast_objects
    from upload_preds.convert.seqplan import plan_sequence
    from upload_preds.convert.sequences import convert_sequence
    from upload_preds.records import Location, Record

    key = orjson.dumps(["ground-truth", "u", "u"]).decode()
    locs = [Location("p.jsonl", n + 1) for n in range(len(rows))]
    lines = []
    for loc, row in zip(locs, rows, strict=True):
        objs = fast_objects(rules, row)
        assert objs is not None
        lines.append((loc, orjson.loads(orjson.dumps(objs))))
    planned = plan_sequence(rules, key, lines, frames)
    records = [(loc, Record(loc, "jsonl", row)) for loc, row in zip(locs, rows, strict=True)]
    full = convert_sequence(rules, key, list(records), frames)
    assert (planned is None) == isinstance(full, list)
    return planned, full

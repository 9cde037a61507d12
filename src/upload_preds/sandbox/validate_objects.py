"""The check of one single label, or of one frame of a sequence: its keys and its objects.

:func:`check_frame` takes the attributes of a single-frame label (or one
entry of a sequence's ``frames``) and the task type they belong to, and adds
a message for everything wrong. Per family:

* image vector (``vector``, ``bboxes``, ``keypoints``, ``image-vector-sequence``):
  annotation ``id``/``category_id``/``type``/``points``; a bbox is two points,
  upper-left then lower-right; a point one point; a polyline two or more; a
  polygon three or more; the types the task allows (``bboxes`` only bbox,
  ``keypoints`` only point).
* image segmentation (``segmentation-bitmap(-highres)``, the frames of
  ``image-segmentation-sequence``): annotations ``id`` (1 to 16777215, the ids a
  bitmap can hold) and ``category_id``, and a ``segmentation_bitmap.url`` that
  is an http(s) URL with a host: a local path names a file only the
  uploader's machine has. A sequence frame may omit the bitmap only when it
  has no annotations (the SDK's frame model makes it optional).
* point-cloud cuboids (``pointcloud-cuboid(-sequence)``): ``position``,
  ``dimensions`` (not negative), ``yaw``, optional ``rotation``.
* point-cloud vectors (``pointcloud-vector(-sequence)``): ``polygon``,
  ``polyline`` and ``point`` with ``[x, y, z]`` points, and cuboids beside them.
* point-cloud segmentation (``pointcloud-segmentation(-sequence)``):
  ``point_annotations``, one whole number ≥ 0 per point (0: unlabeled), as many
  as the cloud has points when the sample says how many; every non-zero id is
  the ``id`` of an annotation, which gives its category.

In a sequence every annotation also needs ``track_id`` (``is_keyframe`` is
optional) and a frame may carry ``timestamp``. Unknown keys are refused
everywhere, category ids must exist, annotation ids are unique per frame, and
object and image attributes must fit what the dataset declares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from upload_preds.sandbox.validate_base import (
    CUBOID_TASKS,
    MAX_BITMAP_ID,
    POINTCLOUD_SEGMENTATION_TASKS,
    POINTCLOUD_VECTOR_TASKS,
    POINTCLOUD_VECTOR_TYPES,
    SEGMENTATION_TASKS,
    VECTOR_TYPES,
    Messages,
    check_attr_values,
    check_format_version,
    check_keys,
    check_track,
    is_int,
    is_number,
    is_web_url,
)

if TYPE_CHECKING:
    from upload_preds.sandbox.validate import TaskSpec

MIN_POINTS = {"bbox": 2, "point": 1, "polyline": 2, "polygon": 3}
MAX_POINTS = {"bbox": 2, "point": 1}
_TRACK_KEYS = ("track_id", "is_keyframe")


def _frame_keys(task_type: str, sequence: bool) -> tuple[str, ...]:
    if task_type in SEGMENTATION_TASKS:
        keys: tuple[str, ...] = ("annotations", "segmentation_bitmap")
    elif task_type in POINTCLOUD_SEGMENTATION_TASKS:
        keys = ("annotations", "point_annotations")
    else:
        keys = ("annotations",)
    keys = (*keys, "image_attributes", "format_version")
    if task_type in POINTCLOUD_VECTOR_TASKS or (task_type in CUBOID_TASKS and not sequence):
        keys = (*keys, "links")
    return (*keys, "timestamp") if sequence else keys


def check_frame(
    spec: TaskSpec,
    task_type: str,
    attrs: dict[str, Any],
    where: str,
    msgs: Messages,
    *,
    sequence: bool,
    points: int | None = None,
) -> None:
    """Messages for one single label or one frame (``points``: the cloud's size, if known)."""
    check_keys(attrs, _frame_keys(task_type, sequence), where, msgs)
    check_format_version(task_type, attrs, where, msgs)
    if "image_attributes" in attrs:
        check_attr_values(
            attrs["image_attributes"], spec.image_attributes, f"{where}image_attributes", msgs
        )
    anns = attrs.get("annotations")
    if task_type in SEGMENTATION_TASKS and (
        not sequence or "segmentation_bitmap" in attrs or (isinstance(anns, list) and anns)
    ):
        _check_bitmap(attrs.get("segmentation_bitmap"), where, msgs)
    if not isinstance(anns, list):
        msgs.add(f"{where}annotations: required, a list (it may be empty)")
        return
    seen: set[int] = set()
    for i, ann in enumerate(anns):
        here = f"{where}annotations[{i}]"
        if not isinstance(ann, dict):
            msgs.add(f"{here}: must be an object")
            continue
        _check_object(spec, task_type, ann, here, seen, msgs, sequence=sequence)
    if task_type in POINTCLOUD_SEGMENTATION_TASKS:
        _check_point_annotations(attrs.get("point_annotations"), seen, points, where, msgs)


def _check_object(
    spec: TaskSpec,
    task_type: str,
    ann: dict[str, Any],
    here: str,
    seen: set[int],
    msgs: Messages,
    *,
    sequence: bool,
) -> None:
    aid = ann.get("id")
    if not is_int(aid):
        msgs.add(f"{here}.id: required, an integer, got {aid!r}")
    elif aid in seen:
        msgs.add(f"{here}.id: {aid} is used by another annotation of this label")
    else:
        seen.add(aid)
        if task_type in SEGMENTATION_TASKS and not 0 < aid <= MAX_BITMAP_ID:
            msgs.add(f"{here}.id: an instance id must be between 1 and {MAX_BITMAP_ID}, got {aid}")
        elif task_type in POINTCLOUD_SEGMENTATION_TASKS and aid < 1:
            msgs.add(f"{here}.id: an instance id is 1 or more (0 means unlabeled), got {aid}")
    cid = ann.get("category_id")
    cat = spec.categories.get(cid) if is_int(cid) else None
    if cat is None:
        known = ", ".join(str(c) for c in spec.categories)
        msgs.add(f"{here}.category_id: {cid!r} is not a category of this dataset ({known})")
    if "attributes" in ann:
        check_attr_values(
            ann["attributes"],
            cat.attributes if cat is not None else None,
            f"{here}.attributes",
            msgs,
        )
    if sequence:
        check_track(ann, here, msgs)
    track = _TRACK_KEYS if sequence else ()
    if task_type in SEGMENTATION_TASKS or task_type in POINTCLOUD_SEGMENTATION_TASKS:
        check_keys(ann, ("id", "category_id", "attributes", *track), f"{here}.", msgs)
    elif task_type in CUBOID_TASKS or (
        task_type in POINTCLOUD_VECTOR_TASKS and ann.get("type") in ("cuboid", "cuboid-sync")
    ):
        _check_cuboid(ann, here, track, msgs)
    elif task_type in POINTCLOUD_VECTOR_TASKS:
        _check_shape(ann, POINTCLOUD_VECTOR_TYPES, task_type, 3, here, track, msgs)
    else:
        _check_shape(ann, VECTOR_TYPES[task_type], task_type, 2, here, track, msgs)


def _check_bitmap(bitmap: Any, where: str, msgs: Messages) -> None:
    if not isinstance(bitmap, dict) or not isinstance(bitmap.get("url"), str):
        msgs.add(f"{where}segmentation_bitmap: required, an object with a 'url' string")
    elif not bitmap["url"]:
        msgs.add(f"{where}segmentation_bitmap.url: must not be empty")
    elif not is_web_url(bitmap["url"]):
        msgs.add(
            f"{where}segmentation_bitmap.url: {bitmap['url']!r} is not an asset URL; "
            "upload the PNG first (POST /assets/, as the SDK's upload_asset does) "
            "and use the http(s) url it returns"
        )


def _check_point_annotations(
    pa: Any, annotated: set[int], points: int | None, where: str, msgs: Messages
) -> None:
    here = f"{where}point_annotations"
    if not isinstance(pa, list):
        msgs.add(f"{here}: required, a list with one instance id per point (0: unlabeled)")
        return
    if points is not None and len(pa) != points:
        msgs.add(f"{here}: {len(pa)} ids for a point cloud of {points} points; give one per point")
    try:
        ids = set(pa)
    except TypeError:
        msgs.add(f"{here}: every entry must be a whole number ≥ 0")
        return
    bad = sorted(repr(v) for v in ids if type(v) is not int or v < 0)
    if bad:
        msgs.add(f"{here}: every entry must be a whole number ≥ 0, got {', '.join(bad[:5])}")
        return
    missing = sorted(ids - annotated - {0})
    if missing:
        shown = ", ".join(str(v) for v in missing[:10]) + (" ..." if len(missing) > 10 else "")
        msgs.add(
            f"{here}: instance id(s) {shown} have no annotation; every id used needs "
            "an entry in annotations with its category_id"
        )


def _check_shape(
    ann: dict[str, Any],
    types: frozenset[str],
    task_type: str,
    dims: int,
    here: str,
    track: tuple[str, ...],
    msgs: Messages,
) -> None:
    check_keys(ann, ("id", "category_id", "type", "points", "attributes", *track), f"{here}.", msgs)
    kind = ann.get("type")
    if kind not in types:
        msgs.add(
            f"{here}.type: {kind!r} is not an annotation type of {task_type} datasets "
            f"({', '.join(sorted(types))})"
        )
        return
    points = ann.get("points")
    if not isinstance(points, list):
        msgs.add(f"{here}.points: required, a list of [{'x, y' if dims == 2 else 'x, y, z'}]")
        return
    if dims == 2:
        for j, p in enumerate(points):
            # Inlined is_number (this loop is the hot spot of a PUT): x - x == 0
            # is False exactly for inf and nan.
            if type(p) is list and len(p) == 2:
                x, y = p
                tx, ty = type(x), type(y)
                if (tx is int or (tx is float and x - x == 0)) and (
                    ty is int or (ty is float and y - y == 0)
                ):
                    continue
            msgs.add(f"{here}.points[{j}]: must be [x, y] with two finite numbers, got {p!r}")
            return
    else:
        for j, p in enumerate(points):
            if not (type(p) is list and len(p) == 3 and all(is_number(c) for c in p)):
                msgs.add(f"{here}.points[{j}]: must be [x, y, z], three finite numbers, got {p!r}")
                return
    n = len(points)
    lo, hi = MIN_POINTS[kind], MAX_POINTS.get(kind)
    if n < lo or (hi is not None and n > hi):
        need = f"exactly {lo}" if hi == lo else f"at least {lo}"
        msgs.add(f"{here}.points: a {kind} has {need} point(s), got {n}")
        return
    if kind == "bbox":
        (x0, y0), (x1, y1) = points
        if x1 < x0 or y1 < y0:
            msgs.add(
                f"{here}.points: a bbox is [[x0, y0], [x1, y1]], upper-left then lower-right; "
                f"got {points!r}"
            )


def _check_cuboid(ann: dict[str, Any], here: str, track: tuple[str, ...], msgs: Messages) -> None:
    allowed = (
        "id",
        "category_id",
        "type",
        "position",
        "dimensions",
        "yaw",
        "rotation",
        "attributes",
        *track,
    )
    check_keys(ann, allowed, f"{here}.", msgs)
    if ann.get("type") not in ("cuboid", "cuboid-sync"):
        msgs.add(f"{here}.type: must be 'cuboid' or 'cuboid-sync', got {ann.get('type')!r}")
    for key in ("position", "dimensions"):
        _check_vec(ann.get(key), ("x", "y", "z"), f"{here}.{key}", msgs)
    dims = ann.get("dimensions")
    if isinstance(dims, dict) and any(is_number(v) and v < 0 for v in dims.values()):
        msgs.add(f"{here}.dimensions: must not be negative, got {dims!r}")
    if not is_number(ann.get("yaw")):
        msgs.add(f"{here}.yaw: required, a number (radians)")
    if "rotation" in ann and ann["rotation"] is not None:
        _check_vec(ann["rotation"], ("qx", "qy", "qz", "qw"), f"{here}.rotation", msgs)


def _check_vec(v: Any, keys: tuple[str, ...], here: str, msgs: Messages) -> None:
    if not isinstance(v, dict) or set(v) != set(keys) or not all(is_number(v[k]) for k in keys):
        msgs.add(f"{here}: required, an object of numbers {{{', '.join(keys)}}}, got {v!r}")

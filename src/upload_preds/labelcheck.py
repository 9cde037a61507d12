"""One label attributes object validated strictly, its errors in short words.

:func:`validate_attributes` checks an attributes object against the model of
its task type's kind (:mod:`upload_preds.labelmodels`), or, without a task type,
against the kinds its keys make plausible, most likely first. pydantic's errors
are collapsed into one ``(field path, message)`` pair per place: union member
names and discriminator tags are dropped from the path (it names keys of the
data only), and the several errors a union gives at one place become one
"should be a X or Y" message. The TypeAdapters are built once per kind, on
first use, and reused.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from upload_preds.labelmodels import KIND_MODELS, LABEL_KIND_NAMES, TASK_TYPES

__all__ = ["validate_attributes"]


def _adapter(kind: str) -> TypeAdapter[Any]:
    # Built lazily once per kind, then reused for every row.
    return TypeAdapter(KIND_MODELS[kind])


def _guess_kinds(attributes: dict[str, Any]) -> list[str]:
    """The kinds an attributes object could be, most likely first, from its keys alone."""
    if "sensors" in attributes:
        return ["multisensor-sequence"]
    if "frames" in attributes:
        frames = attributes["frames"]
        first: Any = frames[0] if isinstance(frames, list) and frames else {}
        sample_ann: Any = {}
        if isinstance(first, dict):
            anns = first.get("annotations")
            if isinstance(anns, list) and anns:
                sample_ann = anns[0]
        if isinstance(first, dict) and "point_annotations" in first:
            return ["pointcloud-segmentation-sequence"]
        if isinstance(first, dict) and "segmentation_bitmap" in first:
            return ["image-segmentation-sequence"]
        if isinstance(sample_ann, dict) and "position" in sample_ann:
            return ["pointcloud-cuboid-sequence", "pointcloud-vector-sequence"]
        return [
            "image-vector-sequence",
            "pointcloud-vector-sequence",
            "image-segmentation-sequence",
            "pointcloud-cuboid-sequence",
            "pointcloud-segmentation-sequence",
        ]
    if "segmentation_bitmap" in attributes:
        return ["segmentation-bitmap"]
    if "point_annotations" in attributes:
        return ["pointcloud-segmentation"]
    anns = attributes.get("annotations")
    if isinstance(anns, list) and any(isinstance(a, dict) and "position" in a for a in anns):
        return ["pointcloud-cuboid", "pointcloud-vector"]
    return ["vector", "pointcloud-vector", "pointcloud-cuboid"]


def _path(loc: tuple[int | str, ...], data: Any, missing: bool) -> str:
    """``('annotations', 2, 'points')`` → ``annotations[2].points``.

    pydantic puts union member names and discriminator tags into ``loc``; they
    are not keys of the data, so they are recognised by walking the data along
    the location and skipped. The last element of a ``missing`` error is kept:
    it names the key that is absent.
    """
    out: list[str] = []
    cur: Any = data
    last = len(loc) - 1
    for i, part in enumerate(loc):
        if isinstance(part, int) and isinstance(cur, list):
            out.append(f"[{part}]")
            cur = cur[part] if 0 <= part < len(cur) else None
        elif isinstance(cur, dict) and part in cur:
            out.append(f".{part}" if out else str(part))
            cur = cur[part]
        elif i == last and missing:
            out.append(f".{part}" if out else str(part))
    return "".join(out)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _message(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind in {"missing", "union_tag_not_found"}:
        return "required field is missing"
    if kind == "extra_forbidden":
        return (
            "unknown field: it is not part of the Segments label format (the SDK would drop "
            "it silently); per-object values belong in the annotation's 'attributes' map"
        )
    if kind == "union_tag_invalid":
        return f"should be one of {ctx.get('expected_tags')}, got {_short(ctx.get('tag'))}"
    if kind == "too_long" and ctx.get("max_length") == 0:
        return "should be a label attributes object, or [] for a sensor without a label"
    msg = err["msg"]
    if msg.startswith("Input should be "):
        msg = "should be " + msg[len("Input should be ") :]
    if kind.endswith("_type") or kind == "literal_error":
        return f"{msg}, got {_short(err.get('input'))}"
    return msg


def _readable_errors(exc: ValidationError, data: Any) -> list[tuple[str, str]]:
    """Collapse pydantic's errors into one short message per field path."""
    by_path: dict[str, list[ErrorDetails]] = {}
    for err in exc.errors(include_url=False):
        path = _path(err["loc"], data, err["type"] == "missing")
        if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            # Point at the discriminating key itself (``sensors[1].task_type``).
            key = str((err.get("ctx") or {}).get("discriminator", "")).strip("'")
            if key.isidentifier():
                path = f"{path}.{key}" if path else key
        by_path.setdefault(path, []).append(err)
    out: list[tuple[str, str]] = []
    for path, errs in by_path.items():
        if len(errs) == 1:
            out.append((path, _message(errs[0])))
            continue
        # Several errors at one place come from a union: one per member.
        special = [e for e in errs if e["type"] in {"finite_number", "missing", "extra_forbidden"}]
        if special:
            out.append((path, _message(special[0])))
            continue
        wanted: list[str] = []
        for e in errs:
            m = e["msg"].removeprefix("Input should be ").removeprefix("a valid ")
            if m not in wanted:
                wanted.append(m)
        expected = ", ".join(wanted[:-1]) + f" or {wanted[-1]}" if len(wanted) > 1 else wanted[0]
        out.append((path, f"should be a {expected}, got {_short(errs[0].get('input'))}"))
    return out


def validate_attributes(
    attributes: Any, task_type: str | None
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """Validate one label attributes object strictly.

    Returns ``(normalized, [])`` on success, where ``normalized`` is the JSON-ready
    dump (only the keys that were given), or ``(None, errors)`` with one
    ``(field path, message)`` per problem; paths are relative to the attributes
    object (``annotations[2].points``, ``""`` for the object itself).

    With a ``task_type`` the attributes must have that task type's format. With
    ``None`` the kind is detected from the shape: the plausible kinds are tried,
    most likely first; when none fits, the errors are those against the closest
    (fewest errors), and the first of them also says which kinds were tried.
    """
    if not isinstance(attributes, dict):
        return None, [("", f"should be a JSON object (label attributes), got {_short(attributes)}")]
    if task_type is not None:
        kind = TASK_TYPES.get(task_type)
        if kind is None:
            known = ", ".join(sorted(TASK_TYPES))
            return None, [("", f"unknown task type {task_type!r}; known task types: {known}")]
        kinds = [kind]
    else:
        kinds = _guess_kinds(attributes)
    failures: list[tuple[str, list[tuple[str, str]]]] = []
    for kind in kinds:
        try:
            value = _adapter(kind).validate_python(attributes)
        except ValidationError as exc:
            failures.append((kind, _readable_errors(exc, attributes)))
            continue
        return value.model_dump(mode="json", exclude_unset=True), []
    if len(failures) == 1:
        return None, failures[0][1]
    best_kind, best = min(failures, key=lambda f: len(f[1]))
    tried = ", ".join(LABEL_KIND_NAMES[k] for k, _ in failures)
    # One message per problem; the first also says how the kind was chosen.
    path, msg = best[0]
    note = (
        f" (checked as {LABEL_KIND_NAMES[best_kind]}, the closest of the label formats tried: "
        f"{tried}; --dataset, or --categories with a dataset file, sets the task type)"
    )
    return None, [(path, msg + note), *best[1:]]

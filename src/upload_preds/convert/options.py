"""The conversion settings: :class:`ConvertOptions`, one frozen object built from the flags.

Invalid values raise :class:`~upload_preds.errors.UsageError` when the object
is made (exit 2 before anything is read), so the converter never meets them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from upload_preds.convert.checks import is_num, valid_labelset
from upload_preds.errors import UsageError
from upload_preds.labelmodels import LABEL_STATUSES

BboxFormat = Literal["xyxy", "xywh", "cxcywh"]
#: How a label without a score of its own gets one from its kept annotations' scores;
#: ``none``: it gets none.
ScoreFrom = Literal["max", "mean", "min", "none"]
SCORE_FROM: tuple[str, ...] = ("max", "mean", "min", "none")

BBOX_FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")
#: What the integers of a point label file are (``--point-labels-kind``); see
#: :mod:`upload_preds.convert.pointlabels`.
POINT_LABELS_KINDS: tuple[str, ...] = ("class", "instance", "semantickitti")


@dataclass(frozen=True)
class ConvertOptions:
    """The conversion settings (flags). Invalid values raise :class:`UsageError`."""

    default_labelset: str = "ground-truth"
    label_status: str = "PRELABELED"
    bbox_format: BboxFormat = "xyxy"
    min_score: float | None = None
    #: Detector output is sorted by score on the platform: by default a label takes
    #: the mean of its kept annotation scores (a row's own ``score`` always wins).
    score_from: ScoreFrom = "mean"
    object_score_attribute: str | None = None
    #: 2-D coordinates are fractions of the image size (0..1), scaled by the row's
    #: ``width``/``height`` (JSON fields or CSV columns).
    normalized: bool = False
    #: Point-cloud segmentation: what the ids of ``point_labels_path`` files are
    #: (``None``: by extension, see ``pointlabels.default_kind``).
    point_labels_kind: str | None = None
    #: Point-cloud segmentation: the number of points of every sample (``--points``,
    #: for offline runs); each file must hold exactly that many ids.
    points: int | None = None
    #: ``--category-map`` for the class ids of point label files: model class id (as
    #: text) → dataset category name, or ``None`` to leave those points unlabeled.
    class_map: Mapping[str, str | None] | None = field(default=None, hash=False)
    #: The frame count of every sequence sample whose own count is not known (offline
    #: runs; ``--frames N``). A sample's own count (its attributes) always wins.
    frames: int | None = None

    def __post_init__(self) -> None:
        if not valid_labelset(self.default_labelset):
            raise UsageError(
                f"--labelset {self.default_labelset!r} is not a usable label set name",
                hint="give a non-empty name without '/'",
            )
        status = str(self.label_status).upper()
        if status not in LABEL_STATUSES:
            raise UsageError(
                f"--label-status {self.label_status!r} is not a label status",
                hint="use one of " + ", ".join(LABEL_STATUSES),
            )
        object.__setattr__(self, "label_status", status)
        if self.bbox_format not in BBOX_FORMATS:
            raise UsageError(
                f"--bbox-format {self.bbox_format!r} is not a bbox format",
                hint="use one of " + ", ".join(BBOX_FORMATS),
            )
        if self.min_score is not None and not is_num(self.min_score):
            raise UsageError(f"--min-score {self.min_score!r} is not a finite number")
        if self.score_from not in SCORE_FROM:
            raise UsageError(
                f"--score-from {self.score_from!r} is not supported",
                hint="use " + ", ".join(SCORE_FROM),
            )
        if self.frames is not None and not (type(self.frames) is int and self.frames > 0):
            raise UsageError(
                f"--frames {self.frames!r} is not a frame count", hint="give a positive integer"
            )
        if self.object_score_attribute is not None and not self.object_score_attribute.strip():
            raise UsageError("--object-score-attribute needs a non-empty attribute name")
        if self.point_labels_kind is not None and self.point_labels_kind not in (
            POINT_LABELS_KINDS
        ):
            raise UsageError(
                f"--point-labels-kind {self.point_labels_kind!r} is not supported",
                hint="use " + ", ".join(POINT_LABELS_KINDS),
            )
        if self.points is not None and (type(self.points) is not int or self.points < 1):
            raise UsageError(f"--points {self.points!r} should be a positive whole number")

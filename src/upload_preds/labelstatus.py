"""The label statuses of the platform, once: which are open to predictions, which are people's.

A label's ``label_status`` says who worked on it last. ``PRELABELED`` (what
this tool uploads) and ``UNLABELED`` are *open*: no person has touched the
label, so a new prediction may replace it. Every other status is a person's
work, which the guard protects (:func:`is_protected`: "not open", so a status
the platform adds later is protected too, before anyone updates this list).

The list is the SDK's ``segments.typing.LabelStatus`` (a test compares them);
the label models (:mod:`upload_preds.labelmodels`) and the guard
(:mod:`upload_preds.preflight`) both take it from here. It imports nothing
heavy: the guard runs before any label model is needed.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = ["HUMAN_STATUSES", "LABEL_STATUSES", "OPEN_STATUSES", "LabelStatus", "is_protected"]

LabelStatus = Literal[
    "PRELABELED",
    "LABELED",
    "REVIEWED",
    "REJECTED",
    "SKIPPED",
    "LABELING_IN_PROGRESS",
    "REVIEWING_IN_PROGRESS",
    "VERIFIED",
    "UNLABELED",
]
#: Every label status the platform knows, in the order above.
LABEL_STATUSES: Final[tuple[str, ...]] = get_args(LabelStatus)

#: The only statuses a label nobody worked on has; every other one is protected.
OPEN_STATUSES: Final = frozenset({"PRELABELED", "UNLABELED"})

#: The human statuses known today: the filter of a guard refresh (unknown ones are
#: added as the snapshot meets them). Protection itself is "not open" (is_protected).
HUMAN_STATUSES: Final[tuple[str, ...]] = tuple(s for s in LABEL_STATUSES if s not in OPEN_STATUSES)


def is_protected(status: str) -> bool:
    """A person worked on a label with this status (anything but PRELABELED/UNLABELED)."""
    return status not in OPEN_STATUSES

"""One list of label statuses (``labelstatus.py``) for the label models and the guard,
equal to the SDK's: a status the platform adds shows up here as a failing test."""

from __future__ import annotations

import subprocess
import sys

import segments.typing as sdk_typing

from upload_preds import labelmodels, labelstatus, preflight
from upload_preds.labelstatus import HUMAN_STATUSES, LABEL_STATUSES, OPEN_STATUSES, is_protected


def test_the_statuses_are_the_sdks() -> None:
    assert sorted(LABEL_STATUSES) == sorted(s.value for s in sdk_typing.LabelStatus)
    assert len(set(LABEL_STATUSES)) == len(LABEL_STATUSES)


def test_every_status_but_the_open_ones_is_a_persons_and_protected() -> None:
    assert {"PRELABELED", "UNLABELED"} == OPEN_STATUSES
    assert set(HUMAN_STATUSES) == set(LABEL_STATUSES) - OPEN_STATUSES
    assert all(is_protected(s) for s in HUMAN_STATUSES)
    assert not any(is_protected(s) for s in OPEN_STATUSES)
    assert is_protected("A_STATUS_THE_PLATFORM_ADDS_LATER")


def test_the_models_and_the_guard_take_the_one_list() -> None:
    assert labelmodels.LabelStatus is labelstatus.LabelStatus
    assert labelmodels.LABEL_STATUSES is LABEL_STATUSES
    assert preflight.HUMAN_STATUSES is HUMAN_STATUSES
    assert preflight.is_protected is is_protected


def test_the_list_imports_no_label_models() -> None:
    code = "import sys, upload_preds.labelstatus; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_sandbox_knows_the_same_statuses() -> None:
    # The sandbox keeps its own list on purpose (it is the independent judge of what
    # the client sends, and imports nothing of the client); it must agree all the same:
    # every status but UNLABELED (what a sample without a label reports) can be written.
    from upload_preds.sandbox.validate import ALL_STATUSES, PSEUDO_STATUS_UNLABELED
    from upload_preds.sandbox.validate import LABEL_STATUSES as WRITABLE

    assert set(ALL_STATUSES) == set(LABEL_STATUSES)
    assert set(WRITABLE) == set(LABEL_STATUSES) - {PSEUDO_STATUS_UNLABELED}

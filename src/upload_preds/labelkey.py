"""Which label a row is: one identity, (label set, sample), written once.

Two rows are the same label when they name the same sample (by uuid, or by
name with the spaces around it stripped) in the same label set; a name and a
uuid with the same text are different samples until names are resolved. A
:class:`LabelKey` holds that identity and gives it two forms:

* :attr:`LabelKey.text`, a string that is equal exactly when the keys are
  (the duplicate index stores it and the messages are built around it);
* :attr:`LabelKey.hash`, a 64-bit hash of it (the one-pass dry run sieves
  these: no string per row, and a collision only costs a re-read).

It is built from whatever holds the identity: a JSON row (:meth:`LabelKey.of_row`),
a CSV/TSV record's cells (:meth:`LabelKey.of_cells`), a converted job
(:meth:`LabelKey.of_job`) or a :class:`~upload_preds.grouping.Grouper` key
(:meth:`LabelKey.of_group`). Every path ends in the same three fields, so
rows, records and jobs of one label always agree, with nothing to keep in step.
Where a dataset is known, :meth:`LabelKey.resolved` turns a name key into the
uuid key of the sample the name resolves to, so that duplicates are found
after resolution (the run's second look at the keys; a uuid key is unchanged,
so inputs by uuid pay nothing for it); :func:`resolved_group` does the same
to a Grouper key without building keys, as it runs once per CSV line.
A row without a usable sample reference has no key (``None``): the converter
reports it with a proper message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Literal, NamedTuple

import orjson

from upload_preds.records import LabelJob

# Mixed into the hash of a sample *name* key, so that a name and a uuid with
# the same text hash apart (a collision would only cost a re-read anyway).
_NAME_SALT: Final = 0x2545F4914F6CDD1D


#: Sample name → the uuid of the one sample it names, or None (see :meth:`LabelKey.resolved`).
Resolve = Callable[[str], "str | None"]


class LabelKey(NamedTuple):
    """A label's identity: its label set and its sample, by uuid or by stripped name."""

    labelset: str
    kind: Literal["uuid", "name"]
    ref: str

    @property
    def text(self) -> str:
        return f"{self.labelset}\x1f{self.kind}\x1f{self.ref}"

    @property
    def hash(self) -> int:
        return hash_of(self.labelset, self.kind == "uuid", self.ref)

    @classmethod
    def of_row(cls, data: dict[str, Any], default_labelset: str) -> LabelKey | None:
        """The key of a JSON row; ``"labelset": null`` is the default, as for the converter."""
        labelset = data.get("labelset")
        if labelset is None:
            labelset = default_labelset
        elif not isinstance(labelset, str):
            return None
        uuid = data.get("sample_uuid")
        if isinstance(uuid, str):
            return cls(labelset, "uuid", uuid)
        name = data.get("sample_name")
        if isinstance(name, str):
            return cls(labelset, "name", name.strip())
        return None

    @classmethod
    def of_cells(cls, cells: dict[str, Any], default_labelset: str) -> LabelKey | None:
        """The key of a CSV/TSV record, or None when it belongs to no label.

        A record gets a key exactly when :meth:`Converter.csv_part
        <upload_preds.convert.Converter.csv_part>` gives it a group: one sample
        reference, no ``/`` in it or in the label set.
        """
        uuid = (cells.get("sample_uuid") or "").strip()
        name = (cells.get("sample_name") or "").strip()
        labelset = (cells.get("labelset") or "").strip() or default_labelset
        if "/" in labelset:
            return None
        if uuid:
            if name or "/" in uuid:
                return None
            return cls(labelset, "uuid", uuid)
        if name and "/" not in name:
            return cls(labelset, "name", name)
        return None

    def resolved(self, resolve: Resolve | None) -> LabelKey:
        """This key with its sample name replaced by the uuid ``resolve`` gives it.

        Once sample names are resolved (a dataset is known), a name row and a
        uuid row of one sample, or two names ``--match stem|path`` maps to one
        sample, are the same label: their resolved keys are equal. A name that
        resolves to no sample, or ``resolve`` None (offline), keeps its name key.
        """
        if resolve is None or self.kind == "uuid":
            return self
        uuid = resolve(self.ref)
        return self if uuid is None else LabelKey(self.labelset, "uuid", uuid)

    @property
    def group(self) -> str:
        """This key as a :class:`~upload_preds.grouping.Grouper` key (the inverse of
        :meth:`of_group`)."""
        return orjson.dumps([self.labelset, "u" if self.kind == "uuid" else "n", self.ref]).decode()

    @classmethod
    def of_group(cls, group_key: str) -> LabelKey:
        """The key of a CSV label, from its :class:`~upload_preds.grouping.Grouper` key
        (``[labelset, "u" | "n", ref]`` as JSON)."""
        labelset, kind, ref = orjson.loads(group_key)
        if kind == "u":
            return cls(labelset, "uuid", ref)
        return cls(labelset, "name", ref.strip())


def resolved_group(group_key: str, resolve: Resolve | None) -> str:
    """``LabelKey.of_group(group_key).resolved(resolve).group``, made without the keys.

    It runs once per line of a name-keyed CSV file read with a dataset (the
    grouping's key of each line, see ``Preparer._group_key``): building two
    :class:`LabelKey` tuples on the way cost 1.9 µs a line, about 5% of a
    100k-line dry run's CPU; this way costs 0.7 µs (``bench/bench_csv_names.py``).
    A test holds the two ways to equal keys.
    """
    labelset, kind, ref = orjson.loads(group_key)
    if kind == "n":
        ref = ref.strip()
        uuid = resolve(ref) if resolve is not None else None
        if uuid is None:
            return orjson.dumps([labelset, "n", ref]).decode()
        ref = uuid
    return orjson.dumps([labelset, "u", ref]).decode()


def hash_of(labelset: str, is_uuid: bool, ref: str) -> int:
    """:attr:`LabelKey.hash` from its parts, without making the key (the hot loops)."""
    h = hash(labelset) ^ hash(ref)
    return h if is_uuid else h ^ _NAME_SALT


def job_hash(job: LabelJob) -> int:
    """:attr:`LabelKey.hash` of a converted job's label (what :meth:`LabelKey.of_row`
    of its row gives: the converter checked the row's references)."""
    # hash_of, inlined: this runs once per row of a dry run.
    uuid = job.sample_uuid
    if uuid is not None:
        return hash(job.labelset) ^ hash(uuid)
    return hash(job.labelset) ^ hash(str(job.sample_name).strip()) ^ _NAME_SALT

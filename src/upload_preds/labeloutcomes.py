"""What each JSON row and CSV label of the input becomes, duplicates included.

A JSON row converts to a label, or to a failure; a CSV file's records of one
sample are grouped (:class:`~upload_preds.grouping.Grouper`) and convert to
one label. When a key occurs more than once (the duplicate locations found by
the first pass) every occurrence fails naming the others, or with
``on_duplicate="last"`` the last one stands and the others are skipped as
superseded. A sequence dataset's rows are grouped into labels by
:class:`~upload_preds.seqgroups.SequenceGroups`. Both passes of
:class:`~upload_preds.pipeline.Preparer` use these rules; :data:`Item` is
what they hand out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from upload_preds.convert import Converter
from upload_preds.dedupe import duplicate_message
from upload_preds.grouping import Grouper
from upload_preds.labelkey import LabelKey, Resolve, resolved_group
from upload_preds.records import Failure, LabelJob, Location, Notice, Record, RowError, Skip
from upload_preds.seqgroups import SequenceGroups

__all__ = ["Item", "LabelOutcomes", "OnDuplicate"]

OnDuplicate = Literal["error", "last"]

#: What the pipeline hands out: one per label, or per failed or skipped group of records.
Item = LabelJob | Failure | Skip | Notice


def _split_by_file(
    members: list[tuple[Location, dict[str, Any]]],
) -> list[list[tuple[Location, dict[str, Any]]]]:
    """A group's items cut into one run per file (items are in input order)."""
    out: list[list[tuple[Location, dict[str, Any]]]] = []
    for member in members:
        if out and out[-1][0][0].file == member[0].file:
            out[-1].append(member)
        else:
            out.append([member])
    return out


class LabelOutcomes:
    """The rules of :class:`~upload_preds.pipeline.Preparer` for rows, CSV labels and
    duplicates (a mixin: the preparer holds the state named here)."""

    converter: Converter
    resolve: Resolve | None
    frames_of: Callable[[str | None], int | Mapping[str, int] | None] | None
    _default_labelset: str
    _on_duplicate: OnDuplicate

    def _sequence_groups(self) -> SequenceGroups | None:
        """For a sequence dataset, the grouping of its rows into labels (seqgroups.py)."""
        if self.converter.sequence is None:
            return None
        groups = SequenceGroups(self.converter, self._on_duplicate)
        groups.frames_of = self.frames_of
        groups.resolve = self.resolve
        return groups

    def _group_key(self, part: tuple[str, dict[str, Any]], cells: dict[str, Any]) -> str:
        """The :class:`Grouper` key of a CSV record: ``csv_part``'s, except that a
        sample name with spaces around it joins the label of the stripped name (the
        name resolves to the same sample, as for JSON rows), and, once names are
        resolved, a name joins the label of the uuid it resolves to: a file's lines
        of one sample are one label whether they name it or give its uuid."""
        key = part[0]
        name = cells.get("sample_name")
        if name and (self.resolve is not None or name[0].isspace() or name[-1].isspace()):
            key = resolved_group(key, self.resolve)
        return key

    def _label_key(self, key: str, first: dict[str, Any]) -> str:
        """The key a grouped label is converted with: its group key, but by name when
        its first line named the sample (so the label reads, and is sharded, as that
        line wrote it; the upload resolves the name to the same uuid)."""
        name = first.get("sample_name")
        if self.resolve is None or not name:
            return key
        label = LabelKey.of_group(key)
        return key if label.kind == "name" else LabelKey(label.labelset, "name", name.strip()).group

    def _groups(self, grouper: Grouper, dups: dict[str, list[Location]]) -> Iterator[Item]:
        """The labels (or failures, or superseded skips) of the grouped CSV records.

        A group holds the records of one key from every CSV file; each file's
        records are one label, so a group of several files is several labels of
        one key: duplicates, decided with the other occurrences in ``dups``.
        """
        conv = self.converter
        for key, members in grouper.groups():
            labels = _split_by_file(members)
            locs: list[Location] | None = None
            if dups:
                locs = dups.get(LabelKey.of_group(key).resolved(self.resolve).text)
            if locs is None and len(labels) > 1:
                locs = [label[0][0] for label in labels]  # not seen by the look-ahead
            for label in labels:
                rows = tuple((loc, m["raw"]) for loc, m in label)
                if locs is not None:
                    outcome = self._label_outcome(rows, locs)
                    if outcome is not None:
                        yield from outcome
                        continue
                parts = [(loc, m["p"]) for loc, m in label]
                result = conv.convert_group(self._label_key(key, label[0][1]["raw"]), parts)
                if isinstance(result, LabelJob):
                    result.extra["rows"] = rows
                    yield result
                else:
                    yield Failure(tuple(result), rows)

    def _label_outcome(
        self, rows: tuple[tuple[Location, dict[str, Any]], ...], locs: list[Location]
    ) -> tuple[Failure, ...] | tuple[Skip] | None:
        """What becomes of a CSV label (its ``rows``) whose key occurs at ``locs``
        (this label at its first line): every line fails naming the others (a failure
        per line, so each line's failures-file entry carries its one message), or the
        label is superseded, or None when it is the one that stands."""
        # A CSV file holds one label of a key: this label is the occurrence in its file.
        file = rows[0][0].file
        own = next((loc for loc in locs if loc.file == file), rows[0][0])
        if self._on_duplicate == "error":
            message = duplicate_message(own, locs, csv=True)
            return tuple(
                Failure((RowError(loc, None, "duplicate row", message),), ((loc, raw),))
                for loc, raw in rows
            )
        if locs[-1].file != file:
            return (Skip("superseded", f"superseded by {locs[-1]}", rows),)
        return None

    def _duplicate_outcome(self, record: Record, locs: list[Location]) -> Failure | Skip | None:
        """What becomes of a row whose key occurs at ``locs``: a failure naming the
        others, a superseded skip, or None when it is the one that stands."""
        rows = ((record.loc, record.data),)
        if self._on_duplicate == "error":
            err = RowError(record.loc, None, "duplicate row", duplicate_message(record.loc, locs))
            return Failure((err,), rows)
        if record.loc != locs[-1]:
            return Skip("superseded", f"superseded by {locs[-1]}", rows)
        return None

    def _json_row(self, record: Record, duplicates: dict[str, list[Location]]) -> Iterator[Item]:
        rows = ((record.loc, record.data),)
        if duplicates:
            key = LabelKey.of_row(record.data, self._default_labelset)
            if key is not None:
                key = key.resolved(self.resolve)
            locs = duplicates.get(key.text) if key is not None else None
            if locs is not None:
                outcome = self._duplicate_outcome(record, locs)
                if outcome is not None:
                    yield outcome
                    return
        result = self.converter.convert(record)
        if isinstance(result, LabelJob):
            result.extra["rows"] = rows
            yield result
        else:
            yield Failure(tuple(result), rows)

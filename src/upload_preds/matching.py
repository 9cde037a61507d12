"""Prediction keys → samples: ``--match uuid|name|stem|path``.

Predictions made outside Segments name their image by a file name or path
(``images/val/000123.jpg``), which is not always the sample's name
(``000123.jpg``, or ``000123.png`` after a conversion). :class:`Matcher` is
built once from the dataset's sample list (the :class:`~upload_preds.preflight.
SampleIndex` the preflight pages anyway) and answers by dictionary look-ups:

* ``name``: the sample whose name equals the key, both trimmed of whitespace;
* ``stem``: the file stem (last path component, extension dropped) of key and
  sample name are compared: ``val/000123.jpg`` matches ``000123.png``;
* ``path``: relative paths compared component-wise after normalising ``\\`` to
  ``/`` and dropping ``./``: the key matches a sample whose name is the same
  path, or which ends with it (or it with the sample name) at a ``/``;
* ``uuid``: the key, or its stem, is the sample uuid itself.

A key that two samples would match is ambiguous and matches neither (it fails
naming both). Unmatched keys get the closest sample names as suggestions,
and :meth:`Matcher.other_match` names the ``--match`` that would find the key
(``bus.jpg`` is sample ``images/bus.jpg`` by ``path``, ``bus.png`` by
``stem``): the other modes' matchers are built from the same index only when a
key fails, once each.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from upload_preds.preflight import SampleIndex

__all__ = ["MATCH_MODES", "MatchMode", "Matcher", "key_stem", "normalise_path"]

MatchMode = Literal["uuid", "name", "stem", "path"]
MATCH_MODES: tuple[MatchMode, ...] = ("uuid", "name", "stem", "path")


def normalise_path(key: str) -> str:
    """``.\\images\\a.jpg `` → ``images/a.jpg``: separators, ``./`` and whitespace."""
    text = key.strip().replace("\\", "/")
    norm = posixpath.normpath(text) if text else text
    return norm.lstrip("/") if norm != "." else ""


def key_stem(key: str) -> str:
    """The last path component without its extension: ``val/0001.jpg`` → ``0001``."""
    base = normalise_path(key).rsplit("/", 1)[-1]
    stem, dot, _ext = base.rpartition(".")
    return stem if dot and stem else base


class Matcher:
    """Resolves prediction keys to sample uuids by one of the :data:`MATCH_MODES`."""

    def __init__(self, index: SampleIndex, mode: MatchMode = "name") -> None:
        self.index = index
        self.mode = mode
        self._by_key: dict[str, str] = {}
        self._ambiguous: dict[str, list[str]] = {}
        self._uuids: set[str] = set()
        names = index.uuid_by_name
        if mode == "uuid":
            self._uuids = set(names.values())
        elif mode == "name":
            for name, uuid in names.items():
                self._add(name.strip(), name, uuid)
        elif mode == "stem":
            for name, uuid in names.items():
                self._add(key_stem(name), name, uuid)
        else:
            for name, uuid in names.items():
                self._add(normalise_path(name), name, uuid)
        # path mode: every trailing part of a sample's path ('b/c.jpg', 'c.jpg' of
        # 'a/b/c.jpg') → its uuid, or "" when several samples end that way.
        self._others: dict[MatchMode, Matcher] = {}
        self._suffix: dict[str, str] = {}
        if mode == "path":
            for key, uuid in self._by_key.items():
                parts = key.split("/")
                for i in range(1, len(parts)):
                    tail = "/".join(parts[i:])
                    prev = self._suffix.get(tail)
                    self._suffix[tail] = uuid if prev is None or prev == uuid else ""

    def _add(self, key: str, name: str, uuid: str) -> None:
        if name in self.index.duplicates:
            self._ambiguous.setdefault(key, []).append(name)
            return
        other = self._by_key.get(key)
        if other is not None and other != uuid:
            self._ambiguous.setdefault(key, []).append(name)
            return
        self._by_key[key] = uuid

    def _key(self, key: str) -> str:
        if self.mode == "stem":
            return key_stem(key)
        if self.mode == "path":
            return normalise_path(key)
        return key.strip()

    def uuid_for(self, key: str) -> str | None:
        """The uuid of the one sample ``key`` matches; None when none or several do."""
        if self.mode == "uuid":
            k = key.strip()
            if k in self._uuids:
                return k
            stem = key_stem(k)
            return stem if stem in self._uuids else None
        k = self._key(key)
        if k in self._ambiguous:
            return None
        uuid = self._by_key.get(k)
        if uuid is not None or self.mode != "path" or not k:
            return uuid
        # A path may be longer or shorter than the sample name: match at a '/'.
        parts = k.split("/")
        for i in range(1, len(parts)):
            uuid = self._by_key.get("/".join(parts[i:]))
            if uuid is not None:
                return uuid
        return self._suffix.get(k) or None

    def other_match(self, key: str) -> str:
        """``"; sample 'images/bus.jpg' matches it by --match path"`` when another
        mode (path, then stem) finds the one sample ``key`` means, else ``""``."""
        name_of: dict[str, str] | None = None
        for mode in ("path", "stem"):
            if mode == self.mode:
                continue
            other = self._others.get(mode)
            if other is None:
                other = self._others[mode] = Matcher(self.index, mode)
            uuid = other.uuid_for(key)
            if uuid is None:
                continue
            if name_of is None:
                name_of = {u: n for n, u in self.index.uuid_by_name.items()}
            return f"; sample {name_of.get(uuid, uuid)!r} matches it by --match {mode}"
        return ""

    def why_not(self, key: str, dataset: str | None) -> str:
        """The message for a key that did not match: ambiguity, or the closest names."""
        k = self._key(key)
        how = {"uuid": "uuid", "name": "name", "stem": "file stem", "path": "relative path"}
        if k in self._ambiguous or key.strip() in self.index.duplicates:
            names = self._ambiguous.get(k) or [key.strip()]
            return (
                f"{key!r} matches several samples by {how[self.mode]} ({', '.join(names[:5])}); "
                "use --match path or name, or give sample_uuid"
            )
        where = f" in {dataset}" if dataset else ""
        message = f"no sample{where} matches {key!r} by {how[self.mode]} (--match {self.mode})"
        other = self.other_match(key)
        if other:
            return message + other
        probe = key_stem(key) if self.mode == "stem" else key.strip()
        near = self.index.suggest(probe) or self.index.suggest(normalise_path(key))
        if near:
            message += "; closest sample names: " + ", ".join(repr(n) for n in near)
        return message

    def count(self, keys: Iterable[str]) -> tuple[int, int, list[str]]:
        """How many ``keys`` match, how many do not, and a few that do not."""
        matched = unmatched = 0
        examples: list[str] = []
        for key in keys:
            if self.uuid_for(key) is not None:
                matched += 1
            else:
                unmatched += 1
                if len(examples) < 3:
                    examples.append(key)
        return matched, unmatched, examples

"""Read-only checks and bulk lookups before the first write.

Each step is one async function on a :class:`~upload_preds.client.SegmentsClient`
that either returns what the upload needs or raises an error from
:mod:`upload_preds.errors` whose message names the flag that fixes it:

1. :func:`check_key`: ``GET /api_status/``; 401/403 → :class:`AuthError`,
   an unreachable server → :class:`SetupError`.
2. :func:`discover_dataset` (``GET /samples/{uuid}/`` → ``dataset_full_name``)
   when no ``--dataset`` was given, then :func:`get_dataset`: task type,
   ``task_attributes`` (categories) and label set names.
3. :func:`ensure_labelset`: the label set exists, else a SetupError naming
   ``--create-labelset``, which makes the same call create it.
4. :func:`fetch_sample_index`: pages the dataset's sample list once
   (``per_page=1000``), never one request per row, into a
   :class:`SampleIndex`: name → uuid, and, when a label set is given, each
   sample's label status in it (from the label summary every listed sample
   carries). :meth:`SampleIndex.suggest` finds the closest names for an
   unknown one.
5. :func:`fetch_protected`: the guard when names need not be resolved: the
   uuids whose label in the target set has a status a person gave it
   (anything but PRELABELED/UNLABELED), from the listing filtered by
   ``label_status=...``: only the protected samples are transferred.

The remaining race, by design: the guard is a snapshot taken before the
upload. A person who opens a sample and saves a label *after* the snapshot
and *before* our PUT for that sample can have their label replaced; the
platform has no conditional PUT to close that window. Keeping the window
short (the upload starts right after the preflight) is all a client can do.

Suggestions: ``difflib.get_close_matches`` over 100,000 names takes 6-12 s
per unknown name on this machine (measured), so :meth:`SampleIndex.suggest`
first narrows the candidates with a character-trigram index, ignoring
trigrams shared by more than 5% of the names (``img``, ``.jp``: they say
nothing), and ranks only the best 200 candidates with difflib: about 25 ms
per name, after a one-time index build (~2 s for 100,000 names, only when a
name is unknown), with no new dependency (rapidfuzz would be faster, but it
is a compiled dependency for an error message).
"""

from __future__ import annotations

import collections
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from upload_preds.client import ApiError, ClientError, SegmentsClient, TransportError
from upload_preds.errors import AuthError, SetupError

__all__ = [
    "HUMAN_STATUSES",
    "DatasetInfo",
    "SampleIndex",
    "check_key",
    "create_labelset",
    "discover_dataset",
    "ensure_labelset",
    "fetch_protected",
    "fetch_sample_index",
    "get_dataset",
]

# Statuses that mean a person worked on the label: the guard does not replace them.
HUMAN_STATUSES = (
    "LABELED",
    "REVIEWED",
    "REJECTED",
    "SKIPPED",
    "LABELING_IN_PROGRESS",
    "REVIEWING_IN_PROGRESS",
    "VERIFIED",
)
_KEY_HINT = "check SEGMENTS_API_KEY or --api-key (or try --sandbox for a local stand-in)"


def _setup_error(what: str, exc: ClientError) -> SetupError | AuthError:
    if isinstance(exc, ApiError) and exc.status in (401, 403):
        return AuthError(f"the API key was rejected ({exc.status}: {exc.detail})", hint=_KEY_HINT)
    if isinstance(exc, TransportError):
        return SetupError(
            f"{what}: cannot reach the API ({exc.detail})",
            hint="check --api-url / SEGMENTS_API_URL and your network",
        )
    return SetupError(f"{what}: {exc}")


async def check_key(client: SegmentsClient) -> None:
    """The key works: raises AuthError for 401/403, SetupError when unreachable."""
    try:
        await client.check_key()
    except ClientError as exc:
        raise _setup_error("checking the API key", exc) from None


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What the upload needs to know about the target dataset."""

    full_name: str
    task_type: str
    task_attributes: dict[str, Any]
    labelsets: tuple[str, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def categories(self) -> list[dict[str, Any]]:
        cats = self.task_attributes.get("categories") or []
        return list(cats) if isinstance(cats, list) else []


async def discover_dataset(client: SegmentsClient, sample_uuid: str) -> str:
    """``owner/name`` of the dataset a sample belongs to (``GET /samples/{uuid}/``)."""
    try:
        sample = await client.get_sample(sample_uuid)
    except ApiError as exc:
        if exc.status == 404:
            raise SetupError(
                f"sample {sample_uuid} does not exist (or this key cannot see it), so the "
                "dataset cannot be discovered from it",
                hint="pass --dataset OWNER/NAME",
            ) from None
        raise _setup_error("discovering the dataset", exc) from None
    except ClientError as exc:
        raise _setup_error("discovering the dataset", exc) from None
    name = sample.get("dataset_full_name")
    if not isinstance(name, str) or "/" not in name:
        raise SetupError(
            f"the server did not say which dataset sample {sample_uuid} belongs to",
            hint="pass --dataset OWNER/NAME",
        )
    return name


async def get_dataset(client: SegmentsClient, full_name: str) -> DatasetInfo:
    """The dataset's task type, task attributes and label set names."""
    try:
        data = await client.get_dataset(full_name)
    except ApiError as exc:
        if exc.status == 404:
            raise SetupError(
                f"dataset {full_name} does not exist or this key cannot see it",
                hint="check --dataset OWNER/NAME (the owner is a user or organization name)",
            ) from None
        raise _setup_error(f"reading dataset {full_name}", exc) from None
    except ClientError as exc:
        raise _setup_error(f"reading dataset {full_name}", exc) from None
    labelsets = tuple(
        str(ls["name"]) if isinstance(ls, dict) else str(ls) for ls in data.get("labelsets") or []
    )
    attrs = data.get("task_attributes")
    return DatasetInfo(
        full_name=full_name,
        task_type=str(data.get("task_type", "")),
        task_attributes=attrs if isinstance(attrs, dict) else {},
        labelsets=labelsets,
        raw=data,
    )


async def create_labelset(
    client: SegmentsClient, full_name: str, labelset: str, description: str = ""
) -> None:
    """Create a label set (for ``--create-labelset``); an existing one is fine."""
    try:
        await client.create_labelset(full_name, labelset, description)
    except ApiError as exc:
        if exc.status == 400 and "already exists" in exc.detail.lower():
            return  # someone created it in the meantime: that is what we wanted
        raise _setup_error(f"creating label set {labelset!r}", exc) from None
    except ClientError as exc:
        raise _setup_error(f"creating label set {labelset!r}", exc) from None


async def ensure_labelset(
    client: SegmentsClient,
    dataset: DatasetInfo,
    labelset: str,
    *,
    create: bool = False,
    description: str = "",
) -> bool:
    """Check the label set exists; with ``create`` make it. Returns True when created."""
    names: Sequence[str] = dataset.labelsets
    if not names:  # some answers omit them from the dataset: ask the list endpoint
        try:
            names = [str(ls.get("name")) for ls in await client.list_labelsets(dataset.full_name)]
        except ClientError as exc:
            raise _setup_error("listing label sets", exc) from None
    if labelset in names:
        return False
    if not create:
        have = ", ".join(sorted(names)) or "none"
        raise SetupError(
            f"label set {labelset!r} does not exist in {dataset.full_name} (it has: {have})",
            hint=f"pass --create-labelset to create it (with --labelset-description TEXT), "
            f"or choose one of: {have}",
        )
    await create_labelset(client, dataset.full_name, labelset, description)
    return True


def _trigrams(text: str) -> set[str]:
    padded = f"  {text.lower()} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class SampleIndex:
    """Sample names → uuids of one dataset, and label statuses in one label set."""

    def __init__(self) -> None:
        self.uuid_by_name: dict[str, str] = {}
        self.duplicates: set[str] = set()
        self.status_by_uuid: dict[str, str] = {}
        self.samples = 0
        self._postings: dict[str, list[int]] | None = None
        self._names: list[str] = []

    def add(self, sample: dict[str, Any], labelset: str | None) -> None:
        uuid = str(sample.get("uuid"))
        name = sample.get("name")
        self.samples += 1
        if isinstance(name, str):
            if name in self.uuid_by_name and self.uuid_by_name[name] != uuid:
                self.duplicates.add(name)
            else:
                self.uuid_by_name[name] = uuid
        if labelset is not None:
            label = sample.get("label")
            if isinstance(label, dict) and isinstance(label.get("label_status"), str):
                self.status_by_uuid[uuid] = label["label_status"]

    def __len__(self) -> int:
        return self.samples

    def uuid_for(self, name: str) -> str | None:
        """The uuid of the sample called ``name``; None when unknown or ambiguous."""
        if name in self.duplicates:
            return None
        return self.uuid_by_name.get(name)

    def protected(self) -> set[str]:
        """Uuids whose label (in the listed label set) a person has worked on."""
        return {u for u, s in self.status_by_uuid.items() if s in HUMAN_STATUSES}

    def suggest(self, name: str, n: int = 3, cutoff: float = 0.6) -> list[str]:
        """Up to ``n`` known names closest to ``name`` (best first)."""
        if self._postings is None:
            self._build()
        assert self._postings is not None
        counts: collections.Counter[int] = collections.Counter()
        for tri in _trigrams(name):
            counts.update(self._postings.get(tri, ()))
        candidates = [self._names[i] for i, _ in counts.most_common(200)]
        if not candidates:
            return []
        return difflib.get_close_matches(name, candidates, n, cutoff)

    def _build(self) -> None:
        self._names = list(self.uuid_by_name)
        postings: dict[str, list[int]] = collections.defaultdict(list)
        for i, nm in enumerate(self._names):
            for tri in _trigrams(nm):
                postings[tri].append(i)
        too_common = max(50, len(self._names) // 20)
        self._postings = {t: ids for t, ids in postings.items() if len(ids) <= too_common}


async def fetch_sample_index(
    client: SegmentsClient,
    dataset: str,
    *,
    labelset: str | None = None,
    per_page: int = 1000,
) -> SampleIndex:
    """Page the dataset's sample list once; with ``labelset`` also learn label statuses."""
    index = SampleIndex()
    try:
        async for sample in client.iter_samples(dataset, labelset=labelset, per_page=per_page):
            index.add(sample, labelset)
    except ClientError as exc:
        raise _setup_error(f"listing the samples of {dataset}", exc) from None
    return index


async def fetch_protected(
    client: SegmentsClient,
    dataset: str,
    labelset: str,
    *,
    statuses: Iterable[str] = HUMAN_STATUSES,
    per_page: int = 1000,
) -> set[str]:
    """Uuids whose label in ``labelset`` has one of ``statuses`` (the filtered listing)."""
    out: set[str] = set()
    wanted = list(statuses)
    try:
        async for sample in client.iter_samples(
            dataset, labelset=labelset, label_status=wanted, per_page=per_page
        ):
            label = sample.get("label")
            status = label.get("label_status") if isinstance(label, dict) else None
            # Trust but verify: a server that ignored the filter must not protect everything.
            if status is None or status in wanted:
                out.add(str(sample.get("uuid")))
    except ClientError as exc:
        raise _setup_error(f"listing the labelled samples of {dataset}", exc) from None
    return out

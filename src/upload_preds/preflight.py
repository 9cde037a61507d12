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
   :class:`SampleIndex`: name → uuid. :meth:`SampleIndex.suggest` finds the
   closest names for an unknown one. When the file names far fewer samples
   than the dataset holds, :func:`lookup_sample_index` asks for each name
   instead (``name__contains=NAME``, a "contains" filter, so the exact match
   is made here by the :class:`~upload_preds.matching.Matcher`; the near names
   it also returns feed the hints of unmatched names). :func:`lookup_pays`
   chooses by counting round trips: paging is ``samples_count / 1000``
   sequential requests (``samples_count`` comes free with the dataset
   response), lookups are ``names / concurrency`` rounds of parallel ones,
   run by ``concurrency`` workers over one shared list (never an unbounded
   gather). ``--match stem|path`` matches names that are not exact, so they
   need the whole index and always page.
5. :class:`Guard`, LAST (the snapshot is as fresh as the preflight allows):
   :meth:`Guard.snapshot` pages each target label set's listing
   (``labelset=...``); every sample whose label there has a status other
   than PRELABELED/UNLABELED (:func:`is_protected`: a status the platform
   adds later is protected too) is protected, and, when the journal holds
   records to check, each label's ``(label_status, updated_at)`` is kept so
   :meth:`Guard.confirms` can tell whether the label the journal says we
   uploaded is still the one on the server. When the file's samples (rows
   by uuid, plus the uuids its names and image keys resolved to) are few
   against the dataset, by the same :func:`lookup_pays` rule, the guard
   reads only their labels instead (``Guard(samples=...)``: one
   ``GET /labels/{uuid}/{labelset}/`` each, 404 = no label, by
   ``client.concurrency`` workers, paced; see :func:`guard_samples`), for
   the snapshot and every refresh. Only those samples can be written, so
   nothing protected is missed, and a label read whole shows any status,
   one the platform adds later included.

Every listing pages until an empty page or "Invalid page." (see
:meth:`~upload_preds.client.SegmentsClient.iter_samples`), so a server that
caps the page size cannot hide samples.

The guard during the run: the engine calls :meth:`Guard.refresh` every
``refresh_interval`` seconds and once more before the last batch is sent. A
refresh reads the labels of the samples still to be written again (targeted
guard: a sample whose label this run wrote, or skipped as protected or already
uploaded, is *settled* by the engine, :meth:`Guard.settle`, and read no more,
since a run holds one label per sample and label set; so refreshes cost less as
the run goes on), or is the listing filtered by ``label_status=`` (the known human statuses, plus any
other status seen so far), so only the protected samples are transferred; a
server that rejects the filter (400) gets the whole label set listing
instead. A filter cannot name a status the platform adds later (the API has
no "not PRELABELED/UNLABELED" filter), so every ``full_every``-th refresh,
and the last one before the last batch, lists without it: a status first
met there joins the filter. That costs little: the guard lists only when
the file covers much of the dataset, so a page of 1,000 samples stands
against 1,000 uploads. Protection only grows during a run: a label once
seen protected stays protected. A refresh that fails keeps the last
snapshot and is tried again at the next interval; the run's summary counts
the failures and says when the last refresh succeeded.

The remaining race, by design: a person who starts a label *after* the last
refresh and *before* our PUT for that sample can have their label replaced
(``--verify`` narrows that window to one GET before each PUT); the platform
has no conditional PUT to close it. And the platform keeps a label
PRELABELED while a labeler works on it until they submit, so no listing, and
no ``--verify``, can see unsubmitted work.

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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from upload_preds.client import ApiError, ClientError, SegmentsClient, TransportError
from upload_preds.errors import AuthError, SetupError
from upload_preds.fanout import each
from upload_preds.journal import Entry
from upload_preds.labelstatus import HUMAN_STATUSES, OPEN_STATUSES, is_protected

__all__ = [
    "HUMAN_STATUSES",
    "OPEN_STATUSES",
    "DatasetInfo",
    "Guard",
    "SampleIndex",
    "check_key",
    "create_labelset",
    "discover_dataset",
    "ensure_labelset",
    "fetch_sample_index",
    "get_dataset",
    "guard_samples",
    "is_protected",
    "lookup_pays",
    "lookup_sample_index",
]

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

    def identity(self, server: str) -> str:
        """Which dataset this is, for the journal: the server, the name, and what the
        API says about the dataset's own identity (its ``uuid`` when given, and its
        ``created_at``), so a dataset deleted and created again under the same name,
        or a sandbox whose database was recreated, is a different dataset."""
        parts = [server, self.full_name]
        for key in ("uuid", "id", "created_at"):
            value = self.raw.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                parts.append(f"{key}={value}")
        return " ".join(parts)

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
    """Sample names → uuids of one dataset."""

    def __init__(self) -> None:
        self.uuid_by_name: dict[str, str] = {}
        self.duplicates: set[str] = set()
        self.samples = 0
        self._postings: dict[str, list[int]] | None = None
        self._names: list[str] = []
        self._seen: set[str] = set()

    def add(self, sample: dict[str, Any]) -> None:
        uuid = str(sample.get("uuid"))
        name = sample.get("name")
        if uuid in self._seen:  # two lookups may both return one sample
            return
        self._seen.add(uuid)
        self.samples += 1
        if isinstance(name, str):
            if name in self.uuid_by_name and self.uuid_by_name[name] != uuid:
                self.duplicates.add(name)
            else:
                self.uuid_by_name[name] = uuid

    def __len__(self) -> int:
        return self.samples

    def uuid_for(self, name: str) -> str | None:
        """The uuid of the sample called ``name``; None when unknown or ambiguous."""
        if name in self.duplicates:
            return None
        return self.uuid_by_name.get(name)

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
    per_page: int = 1000,
    on_sample: Callable[[dict[str, Any]], None] | None = None,
) -> SampleIndex:
    """Page the dataset's sample list once into a :class:`SampleIndex`; ``on_sample``
    sees every listed sample too (the frame counts of sequence samples, sampleshape.py)."""
    index = SampleIndex()
    try:
        async for sample in client.iter_samples(dataset, per_page=per_page):
            index.add(sample)
            if on_sample is not None:
                on_sample(sample)
    except ClientError as exc:
        raise _setup_error(f"listing the samples of {dataset}", exc) from None
    return index


def lookup_pays(
    names: int, samples_count: int | None, concurrency: int, *, per_page: int = 1000
) -> bool:
    """Whether looking ``names`` up one by one beats paging the whole dataset.

    Paging costs ``ceil(samples_count / per_page)`` round trips one after the
    other; lookups cost ``ceil(names / concurrency)`` rounds of parallel ones,
    each at least one round trip (a name that many samples contain takes more
    pages), so lookups are chosen only when they take at most half the rounds.
    An unknown count (a server that does not say ``samples_count``) pages.
    """
    if samples_count is None or names <= 0:
        return False
    pages = max(1, -(-samples_count // per_page))
    rounds = -(-names // max(1, concurrency))
    return 2 * rounds <= pages


def guard_samples(
    samples: Iterable[str | None] | None, samples_count: int | None, concurrency: int
) -> set[str] | None:
    """The samples the guard reads one by one, or None: it lists the label set.

    ``samples`` are the uuids the file can write to (rows by uuid, and what
    its names resolved to; None when the scan stopped counting them); an
    unresolved name (None) writes nothing. Reading them costs one request
    each, so the choice is :func:`lookup_pays`', the rule of the name lookups.
    """
    if samples is None:
        return None
    wanted = {s for s in samples if s is not None}
    if not wanted:
        return wanted  # nothing will be written: nothing to read
    return wanted if lookup_pays(len(wanted), samples_count, concurrency) else None


async def lookup_sample_index(
    client: SegmentsClient,
    dataset: str,
    names: Iterable[str],
    *,
    per_page: int = 100,
    on_sample: Callable[[dict[str, Any]], None] | None = None,
) -> SampleIndex:
    """A :class:`SampleIndex` of the samples whose names contain one of ``names``.

    One ``name__contains`` listing per distinct (trimmed) name, run by
    ``client.concurrency`` workers taking names from one iterator, so at most
    that many requests are in flight and memory does not grow with the file.
    """
    index = SampleIndex()

    async def look_up(name: str) -> None:
        async for sample in client.iter_samples(
            dataset, name__contains=name, per_page=per_page, ends_below=2
        ):
            index.add(sample)
            if on_sample is not None:
                on_sample(sample)

    try:
        wanted = sorted({n.strip() for n in names if n.strip()})
        await each(wanted, look_up, workers=min(client.concurrency, len(wanted)))
    except ClientError as exc:
        raise _setup_error(f"looking up sample names in {dataset}", exc) from None
    return index


def _summary(sample: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """``(uuid, label_status, updated_at)`` of a listed sample's label summary; None
    when the sample has no label in the listed label set."""
    label = sample.get("label")
    if not isinstance(label, dict):
        return None
    status = label.get("label_status")
    if not isinstance(status, str) or status == "UNLABELED":
        return None
    stamp = label.get("updated_at")
    return str(sample.get("uuid")), status, stamp if isinstance(stamp, str) else None


@dataclass(slots=True)
class _Snapshot:
    """What the guard knows of one label set."""

    protected: set[str] = field(default_factory=set)
    # uuid → (label_status, updated_at) of every label, kept only to check the journal.
    labels: dict[str, tuple[str, str | None]] | None = None
    taken_at: float = 0.0  # wall clock when the listing started
    statuses: set[str] = field(default_factory=set)  # protected statuses met
    filter_works: bool = True
    # Samples this run is done with (Guard.settle): a targeted refresh skips them.
    settled: set[str] = field(default_factory=set)


class Guard:
    """Labels people worked on, per label set, kept fresh during the run.

    ``overwrite``: nothing is protected (``--overwrite``), but the snapshot still
    serves :meth:`confirms`. ``refresh_interval``: seconds between refreshes the
    engine runs (a test sets a fraction of a second).
    """

    def __init__(
        self,
        client: SegmentsClient,
        dataset: str,
        *,
        overwrite: bool = False,
        refresh_interval: float = 180.0,
        per_page: int = 1000,
        samples: Iterable[str] | None = None,
    ) -> None:
        self.client = client
        # Only these samples' labels (one GET each) instead of the label set
        # listing: set when the file's samples are few against the dataset.
        self.samples = sorted(set(samples)) if samples is not None else None
        self.dataset = dataset
        self.overwrite = overwrite
        self.refresh_interval = refresh_interval
        self.per_page = per_page
        self.refreshes = 0
        self.refresh_failures = 0
        self.last_refresh_error: str | None = None
        #: Wall clock of the last refresh that read every label set; None: none did.
        self.last_refresh_ok: float | None = None
        #: Every this many refreshes list without the status filter (see above).
        self.full_every = 5
        self._sets: dict[str, _Snapshot] = {}
        self.started = time.time()  # entries recorded after this are this run's own

    def __repr__(self) -> str:
        return f"Guard(dataset={self.dataset!r}, labelsets={sorted(self._sets)})"

    @property
    def active(self) -> bool:
        """Is anything protected at all (so refreshes are worth their requests)?"""
        return not self.overwrite and bool(self._sets)

    async def snapshot(self, labelset: str, *, keep_labels: bool) -> int:
        """List ``labelset`` once; returns how many samples are protected in it.

        ``keep_labels``: remember every label's status and ``updated_at`` for
        :meth:`confirms` (only needed when the journal has records to check).
        """
        snap = _Snapshot(labels={} if keep_labels else None, taken_at=time.time())
        try:
            await self._list(snap, labelset, None)
        except ClientError as exc:
            raise _setup_error(
                f"listing the labels of {self.dataset} in {labelset!r}", exc
            ) from None
        self._sets[labelset] = snap
        return len(snap.protected)

    async def _list(self, snap: _Snapshot, labelset: str, statuses: list[str] | None) -> None:
        if self.samples is None:
            async for sample in self.client.iter_samples(
                self.dataset, labelset=labelset, label_status=statuses, per_page=self.per_page
            ):
                self._note(snap, sample)
            return

        async def read(uuid: str) -> None:
            # The whole label, so any status shows (no filter can miss a new one).
            label = await self.client.find_label(uuid, labelset)
            if label is not None:
                self._note(snap, {"uuid": uuid, "label": label})

        # Taken now: a sample settled while this read is under way is read once more
        # at most (harmless); one settled before is never read again.
        todo = [u for u in self.samples if u not in snap.settled]
        if todo:
            await each(todo, read, workers=min(self.client.concurrency, len(todo)))

    @staticmethod
    def _note(snap: _Snapshot, sample: dict[str, Any]) -> None:
        found = _summary(sample)
        if found is None:
            return
        uuid, status, stamp = found
        if is_protected(status):
            snap.protected.add(uuid)
            snap.statuses.add(status)
        if snap.labels is not None:
            snap.labels[uuid] = (status, stamp)

    async def refresh(self, *, final: bool = False) -> None:
        """Add the labels people worked on since the last look (never raises).

        ``final``: the last refresh before the last batch, unfiltered.
        """
        if self.overwrite:
            return
        self.refreshes += 1
        unfiltered = final or self.refreshes % self.full_every == 0
        failed = False
        for labelset, snap in self._sets.items():
            wanted = sorted(set(HUMAN_STATUSES) | snap.statuses)
            try:
                try:
                    filtered = snap.filter_works and not unfiltered
                    await self._list(snap, labelset, wanted if filtered else None)
                except ApiError as exc:
                    if exc.status != 400 or not snap.filter_works:
                        raise
                    snap.filter_works = False  # the server rejects the filter: list it all
                    await self._list(snap, labelset, None)
            except ClientError as exc:
                self.refresh_failures += 1
                self.last_refresh_error = str(exc)
                failed = True
        if not failed:
            self.last_refresh_ok = time.time()

    def settle(self, sample_uuid: str, labelset: str) -> None:
        """This run is done with the sample's label in ``labelset`` (written, or skipped
        as protected or already uploaded): a targeted refresh need not read it again."""
        snap = self._sets.get(labelset)
        if snap is not None and self.samples is not None:
            snap.settled.add(sample_uuid)

    def protected(self, sample_uuid: str, labelset: str) -> bool:
        """Must a label of this sample in ``labelset`` be left alone?"""
        if self.overwrite:
            return False
        snap = self._sets.get(labelset)
        return snap is not None and sample_uuid in snap.protected

    def confirms(self, sample_uuid: str, labelset: str, entry: Entry) -> bool:
        """Does the server still hold the label the journal ``entry`` says we wrote?

        Yes when the entry was written after the snapshot (by this run: the
        snapshot cannot know it yet), or when the snapshot shows a label with
        the status we sent and the ``updated_at`` our PUT's answer gave (with
        no ``updated_at`` on record, the status alone). No label, another
        status, or a later edit: no. A label set the guard did not list with
        ``keep_labels`` cannot be checked, and is not confirmed.
        """
        snap = self._sets.get(labelset)
        if entry.recorded_at >= (snap.taken_at if snap is not None else self.started):
            return True
        if snap is None or snap.labels is None:
            return False
        held = snap.labels.get(sample_uuid)
        if held is None:
            return False
        status, stamp = held
        if status != entry.status:
            return False
        return entry.stamp is None or stamp == entry.stamp

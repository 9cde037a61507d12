"""One :class:`Settings` object for a run: flag > environment variable > default.

The CLI declares each option once with its ``envvar`` and builds a Settings
from the parsed values; the Python API (:func:`upload_preds.upload`) builds
one from keyword arguments and fills what is missing from the environment
with :meth:`Settings.resolve_env`. Validation happens here, once, so that a
bad value is a :class:`~upload_preds.errors.UsageError` with the flag's name
before anything is read or sent.

The API key is a :class:`pydantic.SecretStr`: its ``repr`` and ``str`` are
masked, so it cannot leak through a log line, a report or a traceback that
prints the settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from upload_preds.errors import UsageError
from upload_preds.labelmodels import LABEL_STATUSES
from upload_preds.printable import printable

DEFAULT_API_URL = "https://api.segments.ai/"
API_KEY_ENV = "SEGMENTS_API_KEY"
API_URL_ENV = "SEGMENTS_API_URL"


def check_api_url(url: str) -> None:
    """Raise a UsageError naming --api-url when ``url`` is not a plain http(s) base URL.

    Refused: no scheme or another than http/https, a user name or password
    (the key goes in SEGMENTS_API_KEY; a URL's credentials would be sent to
    the server and could end up in logs), a backslash (clients disagree on
    what it means), control characters or spaces, a port that is not one
    number, no host, a query or a fragment. The message never repeats the
    user name or password part.
    """
    parts = urlsplit(url)
    shown = url
    if "@" in parts.netloc:
        shown = f"{parts.scheme}://***@{parts.netloc.rpartition('@')[2]}{parts.path}"
    flag = "--api-url (or SEGMENTS_API_URL)"
    example = "e.g. https://api.segments.ai/ or http://127.0.0.1:8000/"

    def bad(why: str) -> UsageError:
        return UsageError(f"{flag} {printable(shown)!r} {why}", hint=example)

    if parts.scheme not in ("http", "https"):
        raise bad("must start with https:// (or http://)")
    if "@" in parts.netloc:
        raise bad("holds a user name or password; give the key in SEGMENTS_API_KEY instead")
    if "\\" in url or any(c.isspace() or not c.isprintable() for c in url):
        raise bad("holds a backslash, a space or a control character")
    try:
        parts.port  # noqa: B018  # urlsplit checks the port only when it is read
    except ValueError:
        raise bad("has a port that is not one number from 0 to 65535") from None
    if not parts.hostname:
        raise bad("names no host")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise bad("must be a base URL, without ? or #")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` → (K, N) with 1 <= K <= N; a UsageError naming --shard otherwise."""
    if text is None:
        return None
    k_text, sep, n_text = text.partition("/")
    try:
        k, n = int(k_text), int(n_text)
    except ValueError:
        k, n = 0, 0
    if not sep or n < 1 or not 1 <= k <= n:
        raise UsageError(
            f"--shard {text!r} is not K/N with 1 <= K <= N",
            hint="for 4 parallel jobs use --shard 1/4, --shard 2/4, --shard 3/4 and --shard 4/4",
        )
    return k, n


class Settings(BaseModel):
    """Everything a run needs to know, validated."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    # where to
    api_url: str = DEFAULT_API_URL
    api_key: SecretStr | None = None
    allow_insecure_http: bool = False
    dataset: str | None = None
    labelset: str = "ground-truth"
    create_labelset: bool = False
    labelset_description: str = ""
    label_status: str = "PRELABELED"
    # behaviour
    overwrite: bool = False
    verify: bool = False  # --verify: GET each label's status just before its PUT
    dry_run: bool = False
    resume: bool = True
    state: Path | None = None
    shard: tuple[int, int] | None = None
    on_duplicate: Literal["error", "last"] = "error"
    # engine
    concurrency: int = 16
    retries: int = 6
    timeout: float = 60.0
    rate: float | None = None
    # reporting
    failures: Path | None = None
    report: Path | None = None
    progress_interval: float = 10.0
    quiet: bool = False

    def model_post_init(self, _context: object) -> None:
        if self.label_status not in LABEL_STATUSES:
            raise UsageError(
                f"--label-status {self.label_status!r} is not a label status",
                hint="use one of " + ", ".join(LABEL_STATUSES),
            )
        if self.concurrency < 1 or self.concurrency > 1024:
            raise UsageError(f"--concurrency {self.concurrency} must be between 1 and 1024")
        if self.retries < 0:
            raise UsageError(f"--retries {self.retries} must be 0 or more")
        if self.timeout <= 0:
            raise UsageError(f"--timeout {self.timeout:g} must be more than 0 seconds")
        if self.rate is not None and self.rate <= 0:
            raise UsageError(f"--rate {self.rate:g} must be more than 0 requests per second")
        if self.progress_interval <= 0:
            raise UsageError("--progress-interval must be more than 0 seconds")
        if self.dataset is not None and self.dataset.count("/") != 1:
            raise UsageError(
                f"--dataset {self.dataset!r} is not OWNER/NAME",
                hint="e.g. --dataset jane/street-scenes",
            )
        if not self.labelset.strip():
            raise UsageError("--labelset must not be empty")
        check_api_url(self.api_url)

    @property
    def api_host(self) -> str:
        """Scheme, host and port of the API: the journal's notion of "which server"."""
        parts = urlsplit(self.api_url)
        return f"{parts.scheme}://{parts.netloc}"

    @staticmethod
    def env_api_key() -> SecretStr | None:
        value = os.environ.get(API_KEY_ENV, "").strip()
        return SecretStr(value) if value else None

    @staticmethod
    def env_api_url() -> str:
        return os.environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL

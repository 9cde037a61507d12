"""Settings: every bad value is a UsageError naming its flag, before anything is read."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from upload_preds.errors import UsageError
from upload_preds.settings import Settings, check_api_url, parse_shard


@pytest.mark.parametrize(
    "url",
    [
        "https://api.segments.ai/",
        "http://127.0.0.1:8000/",
        "http://localhost:1/api/",
        "http://[::1]:8080/",
    ],
)
def test_good_api_urls_pass(url: str) -> None:
    check_api_url(url)
    assert Settings(api_url=url).api_url == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://user:sk-secret@host/", "user name or password"),
        ("http://sk-secret@host/", "user name or password"),
        ("http://host\\evil/", "backslash"),
        ("http://h:1:2/", "port"),
        ("http://h:99999/", "port"),
        ("http://h:port/", "port"),
        ("api.segments.ai", "https://"),
        ("ftp://host/", "https://"),
        ("javascript:alert(1)", "https://"),
        ("http:///path", "no host"),
        ("http://host/ x", "space"),
        ("http://host/\x1b[2J", "control"),
        ("http://host/?key=1", "base URL"),
        ("http://host/#x", "base URL"),
    ],
)
def test_malformed_api_urls_name_the_flag_and_hide_credentials(url: str, why: str) -> None:
    with pytest.raises(UsageError) as caught:
        Settings(api_url=url, api_key=SecretStr("sk-secret"))
    message = caught.value.message
    assert message.startswith("--api-url")
    assert why in message
    assert "sk-secret" not in message + str(caught.value.hint)
    assert "\x1b" not in message
    assert caught.value.exit_code == 2


def test_the_api_key_is_masked_in_repr() -> None:
    settings = Settings(api_key=SecretStr("sk-secret"))
    assert "sk-secret" not in repr(settings)
    assert "sk-secret" not in str(settings)


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        ("concurrency", 0, "--concurrency"),
        ("retries", -1, "--retries"),
        ("timeout", 0.0, "--timeout"),
        ("rate", 0.0, "--rate"),
        ("progress_interval", 0.0, "--progress-interval"),
        ("dataset", "no-slash", "--dataset"),
        ("labelset", " ", "--labelset"),
        ("label_status", "DONE", "--label-status"),
    ],
)
def test_bad_values_name_their_flag(field: str, value: object, flag: str) -> None:
    with pytest.raises(UsageError, match=flag):
        Settings(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "shard"), [("1/4", (1, 4)), ("4/4", (4, 4)), (None, None)])
def test_shards_parse(text: str | None, shard: tuple[int, int] | None) -> None:
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "a/b", "3", "1/-2"])
def test_bad_shards_name_the_flag(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


def test_the_environment_fills_key_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMENTS_API_KEY", "  sk-env  ")
    monkeypatch.setenv("SEGMENTS_API_URL", "http://127.0.0.1:9/")
    key = Settings.env_api_key()
    assert key is not None
    assert key.get_secret_value() == "sk-env"
    assert Settings.env_api_url() == "http://127.0.0.1:9/"
    monkeypatch.delenv("SEGMENTS_API_KEY")
    monkeypatch.delenv("SEGMENTS_API_URL")
    assert Settings.env_api_key() is None
    assert Settings.env_api_url() == "https://api.segments.ai/"

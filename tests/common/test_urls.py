"""Database URLs: PostgreSQL ones pass unchanged, anything else is refused in one line."""

from __future__ import annotations

import pytest

from common.urls import check_database_url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/channeltrace",
        "postgres://u:p@db/ct",
        "POSTGRESQL://db/ct",
        "postgresql://a:5432,b:5433/ct?target_session_attrs=read-write",
        "host=a,b port=5432 dbname=ct target_session_attrs=prefer-standby",
    ],
)
def test_postgresql_urls_pass_unchanged(url: str) -> None:
    assert check_database_url(url) == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://root:s3cret@db/ct", "must start with postgresql://"),
        ("http://db:5432/ct", "got http://"),
        ("", "empty"),
        ("   ", "empty"),
        ("db.example:5432", "keyword=value"),
    ],
)
def test_other_urls_are_refused_without_echoing_secrets(url: str, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_database_url(url)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message
    assert "s3cret" not in message

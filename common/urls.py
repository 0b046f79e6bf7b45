"""Checks of the service addresses people configure, refused in one line when wrong."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

__all__ = ["DATABASE_SCHEMES", "DatabaseUrl", "check_database_url"]

DATABASE_SCHEMES = ("postgresql", "postgres")


def check_database_url(url: str) -> str:
    """``url`` unchanged if it can name a PostgreSQL server, else :class:`ValueError`.

    Accepts libpq URIs (``postgresql://user@host:5432/db``, several hosts as
    ``postgresql://a:5432,b:5432/db?target_session_attrs=read-write``) and libpq
    keyword/value strings (``host=a,b dbname=db``). The message names only the scheme
    (never the rest, which may hold a password).
    """
    text = url.strip()
    if not text:
        raise ValueError("the database URL is empty; expected postgresql://user@host:port/dbname")
    scheme, separator, _rest = text.partition("://")
    if separator:
        if scheme.lower() not in DATABASE_SCHEMES:
            raise ValueError(
                f"a database URL must start with postgresql:// (ChannelTrace stores in "
                f"PostgreSQL or TimescaleDB); got {scheme[:20]}://…"
            )
        return text
    if "=" not in text:
        raise ValueError(
            "a database URL must be postgresql://user@host:port/dbname or libpq "
            "keyword=value pairs (host=… dbname=…)"
        )
    return text


#: A settings field holding a database URL (``CT_DATABASE_URL`` and friends).
DatabaseUrl = Annotated[str, AfterValidator(check_database_url)]

"""What the channel master-data routes share: brand-only writes, the actor of a change,
the offline geocoder, and channel errors as problem documents (docs/api.md).

| error of :mod:`cloud.channel` | answer |
|---|---|
| ``InvalidRecord`` | 422 ``invalid-request`` with ``errors``: ``{"pointer": "/field", "detail"}`` |
| ``RecordNotFound`` | 404 |
| ``RecordConflict`` | 409 |
| ``ImportRefused`` | 422 (the file cannot be read at all) |
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, Final

from fastapi import Depends, Request
from pydantic import BaseModel

from cloud.api.errors import INVALID_REQUEST, ApiError, Forbidden, NotFound
from cloud.auth.principal import Principal, Role
from cloud.channel.changes import Actor, Via
from cloud.channel.errors import (
    ImportRefused,
    InvalidRecord,
    RecordConflict,
    RecordNotFound,
    RegionCodeError,
)
from cloud.channel.geocode import Geocoder, default_geocoder
from cloud.channel.records import Kind, Record, parse_record

__all__ = [
    "NO_NUL",
    "Conflict",
    "Geo",
    "InvalidFields",
    "actor_of",
    "brand_only",
    "channel_errors",
    "get_geocoder",
    "record_from_body",
]

NO_NUL: Final = r"^[^\x00]*$"


class Conflict(ApiError):
    """The record exists already (create), or is another's."""

    status = 409


class InvalidFields(ApiError):
    """Values of a record that were refused, each with what was expected and got."""

    status = 422
    problem_type = INVALID_REQUEST
    title = "Invalid request"


def brand_only(principal: Principal) -> Principal:
    """403 unless the caller is its tenant's brand (distributors read, never write)."""
    if principal.role is not Role.BRAND:
        raise Forbidden(
            f"only the brand manages its channel master data; a {principal.role} may read it"
        )
    return principal


def actor_of(principal: Principal, via: Via = "api") -> Actor:
    return Actor(principal.subject, via)


def get_geocoder(request: Request) -> Geocoder:
    path = getattr(request.app.state.settings, "geocoder_data", None)
    return default_geocoder(None if path is None else str(path))


Geo = Annotated[Geocoder, Depends(get_geocoder)]


def _invalid(exc: InvalidRecord) -> InvalidFields:
    errors = [
        {"pointer": f"/{p.field}", "detail": f"expected {p.expected}, got {p.got}"}
        for p in exc.problems
    ]
    return InvalidFields(str(exc), extensions={"errors": errors})


@contextmanager
def channel_errors() -> Iterator[None]:
    """Translate :mod:`cloud.channel` errors into problem documents."""
    try:
        yield
    except InvalidRecord as exc:
        raise _invalid(exc) from None
    except RecordNotFound as exc:
        raise NotFound(str(exc)) from None
    except RecordConflict as exc:
        raise Conflict(str(exc)) from None
    except (ImportRefused, RegionCodeError) as exc:
        raise InvalidFields(str(exc), extensions={"errors": []}) from None


def record_from_body(
    kind: Kind, body: BaseModel | Mapping[str, Any], geocoder: Geocoder, **path: str
) -> Record:
    """A record of ``kind`` from a request body; the key in the path wins over a body that
    names none, and a different one is refused."""
    raw = dict(body.model_dump(exclude_unset=True) if isinstance(body, BaseModel) else body)
    for field, value in path.items():
        if raw.get(field) not in (None, value):
            raise InvalidFields(
                f"the body's {field} {raw[field]!r} differs from the path's {value!r}",
                extensions={"errors": [{"pointer": f"/{field}",
                                        "detail": f"expected {value!r}, got {raw[field]!r}"}]},
            )  # fmt: skip
        raw[field] = value
    with channel_errors():
        return parse_record(kind, raw, geocoder)

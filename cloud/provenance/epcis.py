"""Validation of EPCIS 2.0 JSON/JSON-LD documents and events, with errors as JSON pointers.

The rules are the project's own typed models (:mod:`cloud.provenance.epcis_models`), which
accept exactly what GS1's official EPCIS 2.0 JSON schema accepts; nothing is read from disk
at run time. Each violation is a :class:`SchemaIssue`: where (an RFC 6901 JSON pointer into
the document) and what was expected and got. A missing member is reported at the object
that lacks it; an unknown member at the member itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError

from cloud.provenance.epcis_models import DOCUMENT, EVENT, TAGS
from cloud.provenance.epcis_types import describe
from cloud.provenance.errors import EpcisValidationError

__all__ = [
    "SchemaIssue",
    "document_issues",
    "event_issues",
    "pointer",
    "validate_document",
    "validate_event",
]

_logger = logging.getLogger(__name__)

_MAX_MESSAGE = 300


class SchemaIssue(NamedTuple):
    """One violation: where (RFC 6901 JSON pointer) and what."""

    pointer: str
    message: str


def pointer(path: Iterable[str | int]) -> str:
    """The RFC 6901 JSON pointer of ``path`` (``~`` and ``/`` escaped)."""
    parts = (str(p).replace("~", "~0").replace("/", "~1") for p in path)
    return "".join("/" + p for p in parts)


def _chosen_by_type(loc: tuple[str | int, ...], index: int) -> bool:
    """Whether ``loc[index]`` names the model pydantic chose by ``type``: at the root, and
    right after an ``eventList`` index."""
    if loc[index] not in TAGS:
        return False
    return index == 0 or (
        index >= 2 and isinstance(loc[index - 1], int) and loc[index - 2] == "eventList"
    )


def _path(loc: tuple[str | int, ...]) -> list[str | int]:
    """The document path of a pydantic error location (without chosen model names and
    pydantic's ``[key]`` marker of a refused member name)."""
    return [
        part
        for index, part in enumerate(loc)
        if part != "[key]" and not _chosen_by_type(loc, index)
    ]


_PLAIN = {
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "list_type": "an array",
}


def _message(kind: str, error: Any, path: list[str | int]) -> tuple[list[str | int], str]:
    """Where and what for one pydantic error."""
    ctx = error.get("ctx") or {}
    if kind.startswith("epcis_"):
        message = str(ctx["detail"])
    elif kind == "missing" and path:
        path, message = path[:-1], f"missing required member {str(path[-1])!r}"
    elif kind in _PLAIN:
        message = f"expected {_PLAIN[kind]}, got {describe(error.get('input'))}"
    elif kind == "too_short":
        least = ctx.get("min_length", 1)
        message = f"expected at least {least} item{'s' * (least != 1)}, got an empty array"
    elif kind == "extra_forbidden":
        name = str(path[-1]) if path else ""
        message = f"unexpected member {name!r}: this object takes no other members"
    else:  # models are chosen by their type, so a literal or union error cannot happen
        _logger.warning("untranslated EPCIS validation error %s at %s", kind, path)
        message = str(error.get("msg", kind))
    return path, message


def _issues(adapter: TypeAdapter[Any], instance: object) -> tuple[SchemaIssue, ...]:
    try:
        adapter.validate_python(instance)
    except ValidationError as exc:
        found: set[SchemaIssue] = set()
        for error in exc.errors(include_url=False):
            where, message = _message(error["type"], error, _path(error["loc"]))
            if len(message) > _MAX_MESSAGE:
                message = message[: _MAX_MESSAGE - 1] + "…"
            found.add(SchemaIssue(pointer(where), message))
        return tuple(sorted(found))
    return ()


def document_issues(document: object) -> tuple[SchemaIssue, ...]:
    """Every violation in an EPCISDocument / EPCISQueryDocument (or a standalone event)."""
    return _issues(DOCUMENT, document)


def event_issues(event: object) -> tuple[SchemaIssue, ...]:
    """Every violation in one event as it appears inside a document's ``eventList``."""
    return _issues(EVENT, event)


def _raise(kind: str, issues: tuple[SchemaIssue, ...]) -> None:
    if issues:
        first = "; ".join(f"{i.pointer or '/'}: {i.message}" for i in issues[:3])
        more = f" (and {len(issues) - 3} more)" if len(issues) > 3 else ""
        raise EpcisValidationError(
            f"invalid EPCIS {kind}: {first}{more}", tuple((i.pointer, i.message) for i in issues)
        )


def validate_document(document: object) -> None:
    """Raise :class:`EpcisValidationError` listing every violation, or return."""
    _raise("document", document_issues(document))


def validate_event(event: object) -> None:
    """Raise :class:`EpcisValidationError` for an event as found in an ``eventList``."""
    _raise("event", event_issues(event))

"""Validation of EPCIS 2.0 JSON/JSON-LD documents and events against the official schema.

The GS1 schema is not shipped with the package (GS1 licence; one source of truth): it is
loaded from ``CT_EPCIS_SCHEMA`` or, by default, from ``../shared/standards/epcis/`` beside the
repository. Formats are enforced: ``date-time`` via rfc3339-validator and ``uri`` via rfc3987;
without them malformed dates and URIs would pass silently, so loading refuses to go on.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from cloud.provenance.errors import EpcisSchemaUnavailable, EpcisValidationError

__all__ = [
    "SCHEMA_ENV",
    "EpcisValidators",
    "SchemaIssue",
    "default_schema_path",
    "document_issues",
    "event_issues",
    "load_validators",
    "validate_document",
    "validate_event",
]

_logger = logging.getLogger(__name__)

SCHEMA_ENV = "CT_EPCIS_SCHEMA"
_REPO_ROOT = Path(__file__).resolve().parents[2]
_DEFAULT = _REPO_ROOT.parent / "shared" / "standards" / "epcis" / "EPCIS-JSON-Schema.json"
_MAX_MESSAGE = 300


class SchemaIssue(NamedTuple):
    """One schema violation: where (RFC 6901 JSON pointer) and what."""

    pointer: str
    message: str


class EpcisValidators(NamedTuple):
    document: Draft7Validator
    event: Draft7Validator


def default_schema_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$CT_EPCIS_SCHEMA`` if set, else ``../shared/standards/epcis/`` beside the repo."""
    env = os.environ if environ is None else environ
    configured = env.get(SCHEMA_ENV)
    return Path(configured) if configured else _DEFAULT


@lru_cache(maxsize=4)
def load_validators(path: Path | None = None) -> EpcisValidators:
    """Validators for whole documents and for events inside a document (cached per path)."""
    schema_path = path or default_schema_path()
    try:
        schema: dict[str, Any] = json.loads(schema_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EpcisSchemaUnavailable(
            f"EPCIS 2.0 JSON schema not found at {schema_path}; set {SCHEMA_ENV} to the path "
            "of EPCIS-JSON-Schema.json (GS1 EPCIS 2.0)"
        ) from None
    except (OSError, ValueError) as exc:
        raise EpcisSchemaUnavailable(f"cannot read EPCIS schema {schema_path}: {exc}") from None
    checker = Draft7Validator.FORMAT_CHECKER
    _require_formats(checker)
    Draft7Validator.check_schema(schema)
    event_schema = {
        "$schema": schema.get("$schema"),
        "$ref": "#/definitions/EPCIS-Document-Event",
        "definitions": schema["definitions"],
    }
    _logger.debug("loaded EPCIS schema from %s", schema_path)
    return EpcisValidators(
        Draft7Validator(schema, format_checker=checker),
        Draft7Validator(event_schema, format_checker=checker),
    )


def _require_formats(checker: FormatChecker) -> None:
    probes = {"date-time": "2024-13-45T99:00:00Z", "uri": "not a uri"}
    missing = [f for f, bad in probes.items() if checker.conforms(bad, f)]
    if missing:
        raise EpcisSchemaUnavailable(
            f"format checkers for {missing} are not installed: install rfc3339-validator and "
            "rfc3987 (jsonschema[format]), else malformed dates and URIs pass validation"
        )


def _pointer(path: Iterable[str | int]) -> str:
    parts = (str(p).replace("~", "~0").replace("/", "~1") for p in path)
    return "".join("/" + p for p in parts)


def _leaf(error: ValidationError) -> ValidationError:
    while error.context:
        deeper = best_match(error.context)
        if deeper is None:
            break
        error = deeper
    return error


def _issues(validator: Draft7Validator, instance: object) -> tuple[SchemaIssue, ...]:
    found: set[SchemaIssue] = set()
    for error in validator.iter_errors(instance):
        leaf = _leaf(error)
        message = leaf.message
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 1] + "…"
        found.add(SchemaIssue(_pointer(leaf.absolute_path), message))
    return tuple(sorted(found))


def document_issues(document: object, schema: Path | None = None) -> tuple[SchemaIssue, ...]:
    """Every violation in an EPCISDocument / EPCISQueryDocument (or a standalone event)."""
    return _issues(load_validators(schema).document, document)


def event_issues(event: object, schema: Path | None = None) -> tuple[SchemaIssue, ...]:
    """Every violation in one event as it appears inside a document's ``eventList``."""
    return _issues(load_validators(schema).event, event)


def _raise(kind: str, issues: tuple[SchemaIssue, ...]) -> None:
    if issues:
        first = "; ".join(f"{i.pointer or '/'}: {i.message}" for i in issues[:3])
        more = f" (and {len(issues) - 3} more)" if len(issues) > 3 else ""
        raise EpcisValidationError(
            f"invalid EPCIS {kind}: {first}{more}", tuple((i.pointer, i.message) for i in issues)
        )


def validate_document(document: object, schema: Path | None = None) -> None:
    """Raise :class:`EpcisValidationError` listing every violation, or return."""
    _raise("document", document_issues(document, schema))


def validate_event(event: object, schema: Path | None = None) -> None:
    _raise("event", event_issues(event, schema))

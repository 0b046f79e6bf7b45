"""Value types of EPCIS 2.0 JSON for the pydantic models of :mod:`epcis_models`.

Every leaf is checked by one plain function that keeps the JSON value as it came (no
coercion: ``"5"`` is not a number, ``1`` is not ``true``) and, when it refuses, says what was
expected and what was got. A value may be left out but never ``null``: the schema has no
nullable member, hence :data:`Opt`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Set
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, PlainValidator
from pydantic_core import PydanticCustomError

from cloud.provenance import epcis_terms as terms
from cloud.provenance.epcis_formats import (
    EVENT_TIME_ZONE_OFFSET,
    HEX_BINARY,
    NON_GS1_WEB_VOC,
    NOT_CBV,
    UOM,
    VERSION,
    all_unique,
    is_date_time,
    is_uri,
    search,
)

__all__ = [
    "Action",
    "AttributeValue",
    "BizStep",
    "BizTransactionType",
    "Boolean",
    "CertificationInfo",
    "Component",
    "Context",
    "Disposition",
    "ErrorReason",
    "EventTypeUri",
    "HexBinary",
    "MeasurementType",
    "Number",
    "Opt",
    "SensorAlertType",
    "SourceDestType",
    "String",
    "Time",
    "TimeZoneOffset",
    "Uom",
    "Uri",
    "Version",
    "describe",
    "refuse",
    "unique",
]

_SHOWN = 80  # characters of a refused value quoted in a message

T = TypeVar("T")


def describe(value: object) -> str:
    """A refused JSON value as a message shows it: ``'abc'``, ``the number 5``, ``null``."""
    if value is None or isinstance(value, bool):
        shown = {None: "null", True: "true", False: "false"}[value]
    elif isinstance(value, int) and abs(value) >= 10**_SHOWN:
        shown = f"a number of more than {_SHOWN} digits"
    elif isinstance(value, int | float):
        shown = f"the number {value}"
    elif isinstance(value, str):
        shown = repr(value) if len(value) <= _SHOWN else repr(value[: _SHOWN - 1]) + "…"
    elif isinstance(value, list):
        shown = f"an array of {len(value)} item{'' if len(value) == 1 else 's'}"
    else:
        shown = "an object" if isinstance(value, dict) else type(value).__name__
    return shown


def refuse(kind: str, detail: str) -> PydanticCustomError:
    """The error a check raises; ``detail`` is the whole message (never a format string)."""
    return PydanticCustomError(f"epcis_{kind}", "{detail}", {"detail": detail})


def _refuse_null(value: object) -> object:
    if value is None:
        raise refuse("null", "got null: leave the member out instead of sending null")
    return value


Opt = Annotated[T | None, BeforeValidator(_refuse_null)]
"""An optional member: absent is fine (``None`` in the model), explicit ``null`` is not."""


def _check(kind: str, accept: Callable[[Any], bool], expected: str) -> PlainValidator:
    def check(value: Any) -> Any:
        if not accept(value):
            raise refuse(kind, f"expected {expected}, got {describe(value)}")
        return value

    return PlainValidator(check)


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_uri(value: object) -> bool:
    return isinstance(value, str) and is_uri(value)


def _matches(pattern: re.Pattern[str]) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and search(pattern, value)


_URI_HINT = "an absolute URI (RFC 3986, such as 'urn:epc:id:sgtin:…' or 'https://id.gs1.org/…')"

String = Annotated[str, _check("string", _is_str, "a string")]
Boolean = Annotated[bool, _check("boolean", lambda v: isinstance(v, bool), "true or false")]
Number = Annotated[float, _check("number", _is_number, "a number")]
Uri = Annotated[str, _check("uri", _is_uri, _URI_HINT)]
Time = Annotated[
    str,
    _check(
        "date_time",
        lambda v: isinstance(v, str) and is_date_time(v),
        "an RFC 3339 date-time with a time zone, such as '2024-05-01T12:00:00.000Z'",
    ),
]
TimeZoneOffset = Annotated[
    str,
    _check(
        "time_zone_offset",
        _matches(EVENT_TIME_ZONE_OFFSET),
        "a time zone offset from '-14:00' to '+14:00', such as '+01:00'",
    ),
]
Version = Annotated[str, _check("version", _matches(VERSION), "a version such as '2.0'")]
Uom = Annotated[
    str,
    _check("uom", _matches(UOM), "a UN/ECE Rec 20 unit code of 2 or 3 capitals or digits (KGM)"),
]
HexBinary = Annotated[str, _check("hex", _matches(HEX_BINARY), "hexadecimal digits")]
Action = Annotated[
    str,
    _check("action", lambda v: isinstance(v, str) and v in terms.ACTIONS, "OBSERVE, ADD or DELETE"),
]


def _term_or_uri(
    field: str, words: Set[str], outside: re.Pattern[str], where: str, cbv_urn: str | None
) -> PlainValidator:
    """A closed code list or a URI of one's own that is ``outside`` the standard's namespace."""
    examples = ", ".join(repr(w) for w in sorted(words)[:3])

    def check(value: Any) -> Any:
        if isinstance(value, str) and (
            value in words or (is_uri(value) and search(outside, value))
        ):
            return value
        if cbv_urn and isinstance(value, str) and value.startswith(cbv_urn):
            bare = value[len(cbv_urn) :]
            raise refuse(
                field,
                f"EPCIS 2.0 JSON writes CBV {field} values bare ({bare!r}), got {describe(value)}",
            )
        raise refuse(
            field,
            f"expected a standard {field} ({examples}, …) or a URI of your own not under "
            f"{where}, got {describe(value)}",
        )

    return PlainValidator(check)


_CBV = "urn:epcglobal:cbv or https://ns.gs1.org/cbv/"
_WEB_VOC = "https://gs1.org/voc/"


def _cbv(field: str, words: Set[str], urn_kind: str | None = None) -> PlainValidator:
    urn = f"urn:epcglobal:cbv:{urn_kind}:" if urn_kind else None
    return _term_or_uri(field, words, NOT_CBV, _CBV, urn)


BizStep = Annotated[str, _cbv("bizStep", terms.BIZ_STEPS, "bizstep")]
Disposition = Annotated[str, _cbv("disposition", terms.DISPOSITIONS, "disp")]
BizTransactionType = Annotated[str, _cbv("bizTransaction type", terms.BIZ_TRANSACTION_TYPES, "btt")]
SourceDestType = Annotated[str, _cbv("source/destination type", terms.SOURCE_DEST_TYPES, "sdt")]
ErrorReason = Annotated[str, _cbv("error reason", terms.ERROR_REASONS, "er")]
Component = Annotated[str, _cbv("component", terms.COMPONENTS)]
MeasurementType = Annotated[
    str,
    _term_or_uri("measurement type", terms.MEASUREMENT_TYPES, NON_GS1_WEB_VOC, _WEB_VOC, None),
]
SensorAlertType = Annotated[
    str,
    _term_or_uri("sensor alert type", terms.SENSOR_ALERT_TYPES, NON_GS1_WEB_VOC, _WEB_VOC, None),
]


def _event_type(value: Any) -> Any:
    if _is_uri(value):
        return value
    raise refuse(
        "event_type",
        f"expected {', '.join(terms.EVENT_TYPES)} or a URI naming an extension event type, "
        f"got {describe(value)}",
    )


EventTypeUri = Annotated[str, PlainValidator(_event_type)]


def _context(value: Any) -> Any:
    """``@context``: a URI, an object, or an array of distinct URIs and objects."""
    if _is_uri(value) or isinstance(value, dict):
        return value
    if not isinstance(value, list):
        raise refuse(
            "context", f"expected a context URI, an object or an array, got {describe(value)}"
        )
    for index, item in enumerate(value):
        if not (_is_uri(item) or isinstance(item, dict)):
            detail = f"item {index}: expected a context URI or an object, got {describe(item)}"
            raise refuse("context", detail)
    if not all_unique(value):
        raise refuse("unique", "the context array lists the same entry twice")
    return value


Context = Annotated[str | dict[str, Any] | list[Any], PlainValidator(_context)]


def _certification_info(value: Any) -> Any:
    if _is_uri(value):
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not _is_uri(item):
                raise refuse("uri", f"item {index}: expected {_URI_HINT}, got {describe(item)}")
        return value
    detail = f"expected {_URI_HINT} or an array of them, got {describe(value)}"
    raise refuse("certification", detail)


CertificationInfo = Annotated[str | list[str], PlainValidator(_certification_info)]


def _attribute_value(value: Any) -> Any:
    if _is_number(value) or isinstance(value, str | dict):
        return value
    raise refuse("attribute", f"expected a number, a string or an object, got {describe(value)}")


AttributeValue = Annotated[float | str | dict[str, Any], PlainValidator(_attribute_value)]


def unique(items: list[str]) -> list[str]:
    """``uniqueItems`` of a list of strings already validated item by item."""
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise refuse("unique", f"items must be distinct; {describe(item)} is listed twice")
        seen.add(item)
    return items

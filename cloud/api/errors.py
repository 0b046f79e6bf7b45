"""Errors of the API and the RFC 9457 problem documents every error answer of the app is.

An answer with status 4xx/5xx is ``application/problem+json``: ``type`` (a URI naming the
kind of problem; ``about:blank`` when the status says it all), ``title`` (fixed per type;
the status phrase for ``about:blank``), ``status``, ``detail`` (what was expected and what
was got, for this occurrence) and ``instance`` (the request path). Invalid requests add an
``errors`` array: ``{"pointer", "detail"}`` for a place in the JSON body (RFC 6901 pointer),
``{"in", "parameter", "detail"}`` for a query, path, header or cookie parameter. EPCIS
capture uses the problem types of the EPCIS 2.0 REST binding (``epcisException:…``).

:func:`install_problem_handlers` maps every error the app can raise to such a document.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException

from cloud.errors import CloudError

__all__ = [
    "INVALID_REQUEST",
    "PROBLEM_JSON",
    "ApiError",
    "BadRequest",
    "CaptureForbidden",
    "CaptureLimitExceeded",
    "Conflict",
    "EventConflict",
    "Forbidden",
    "InvalidEpcis",
    "NotATraceCode",
    "NotFound",
    "Unavailable",
    "install_problem_handlers",
    "problem",
    "problem_response",
]

_logger = logging.getLogger(__name__)

PROBLEM_JSON: Final = "application/problem+json"
ABOUT_BLANK: Final = "about:blank"
INVALID_REQUEST: Final = "tag:channeltrace.example,2026:problem/invalid-request"
"""The type of a request FastAPI refused (parameters or body): carries ``errors``. A tag URI
(RFC 4151): a name, not a page to fetch (RFC 9457 §3.1.1); docs/api.md describes it."""

_SHOWN = 80
_SECRET_WORDS = ("password", "secret", "token", "key")


class ApiError(CloudError):
    """Root of the API's errors: ``status`` is the HTTP status it becomes, ``problem_type``
    and ``title`` its RFC 9457 type and title; ``extensions`` are extra members."""

    status = 500
    problem_type = ABOUT_BLANK
    title: str | None = None  # None: the status phrase, as about:blank wants

    def __init__(
        self,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


class NotFound(ApiError):
    """The tenant, site or device named in the path does not exist."""

    status = 404


class Forbidden(ApiError):
    """The caller is known but its role may not do this (a distributor writing brand settings)."""

    status = 403


class BadRequest(ApiError):
    """Parameters that are well-typed but cannot be served (a range too large, end <= start)."""

    status = 422


class Unavailable(ApiError):
    """The database cannot be reached right now; the client should retry."""

    status = 503


class InvalidEpcis(ApiError):
    """An EPCIS document that is not valid EPCIS 2.0 (``errors``: pointer and detail each)."""

    status = 400
    problem_type = "epcisException:ValidationException"
    title = "Invalid EPCIS document"


class CaptureLimitExceeded(ApiError):
    """More events in one capture than the service takes."""

    status = 413
    problem_type = "epcisException:CaptureLimitExceededException"
    title = "Capture limit exceeded"


class CaptureForbidden(ApiError):
    """A capture naming what the caller may not capture (another brand's EPC, a unit not
    shipped to this distributor, a location not of its sites): ``epc`` or ``location``
    names the first one."""

    status = 403
    problem_type = "epcisException:SecurityException"
    title = "Not permitted to capture these events"


class Conflict(ApiError):
    """The request contradicts what is stored (an overlapping prefix, one still in use)."""

    status = 409


class NotATraceCode(ApiError):
    """A resolver request that is not a Digital Link of this resolver (bad GTIN, lot or
    serial, oversized query): nothing is recorded."""

    status = 400
    problem_type = "tag:channeltrace.example,2026:problem/not-a-trace-code"
    title = "Not a trace code"


class EventConflict(ApiError):
    """An eventID already captured with other content (``event_ids`` lists them)."""

    status = 409
    problem_type = "epcisException:ResourceAlreadyExistsException"
    title = "Event already captured with other content"


def problem(
    status: int,
    detail: str,
    *,
    problem_type: str = ABOUT_BLANK,
    title: str | None = None,
    instance: str | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem document (extension members never override the standard ones)."""
    document: dict[str, Any] = dict(extensions or {})
    document.update(
        type=problem_type,
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
    )
    if instance is not None:
        document["instance"] = instance
    return document


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    problem_type: str = ABOUT_BLANK,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    """The ``application/problem+json`` answer to ``request`` (no body for 204 and 304)."""
    if status in (204, 304) or status < 200:
        return Response(status_code=status, headers=dict(headers or {}))
    body = problem(
        status,
        detail,
        problem_type=problem_type,
        title=title,
        instance=request.url.path,
        extensions=extensions,
    )
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _pointer(path: Iterable[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _got(name: str, value: object) -> str:
    """``, got …`` for a refused scalar, nothing for containers and secret fields."""
    if isinstance(value, dict | list) or any(w in name.lower() for w in _SECRET_WORDS):
        return ""
    if isinstance(value, str):
        shown = repr(value) if len(value) <= _SHOWN else repr(value[: _SHOWN - 1]) + "…"
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_SHOWN:
        shown = f"a number of more than {_SHOWN} digits"
    else:
        shown = "null" if value is None else str(value).lower()
    return f", got {shown}"


def _request_error(error: Mapping[str, Any]) -> dict[str, str]:
    """One refused part of a request: where (pointer or parameter) and what."""
    loc: Sequence[str | int] = tuple(error.get("loc") or ("body",))
    where, path = str(loc[0]), list(loc[1:])
    kind, message = error.get("type", ""), str(error.get("msg", "invalid"))
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "not JSON")
        return {"pointer": "", "detail": f"the body is not valid JSON: {reason}"}
    if where != "body":
        name = ".".join(str(p) for p in path)
        if kind == "missing":
            return {"in": where, "parameter": name, "detail": f"missing required {where} parameter"}
        return {
            "in": where,
            "parameter": name,
            "detail": message + _got(name, error.get("input")),
        }
    if kind == "missing":
        if not path:
            return {"pointer": "", "detail": "a JSON body is required"}
        return {"pointer": _pointer(path[:-1]), "detail": f"missing required member {path[-1]!r}"}
    name = str(path[-1]) if path else ""
    return {"pointer": _pointer(path), "detail": message + _got(name, error.get("input"))}


def _summary(errors: Sequence[Mapping[str, str]]) -> str:
    def place(e: Mapping[str, str]) -> str:
        return f"{e['in']} parameter {e['parameter']!r}" if "in" in e else e["pointer"] or "/"

    first = "; ".join(f"{place(e)}: {e['detail']}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"invalid request: {first}{more}"


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.status >= 500:
        _logger.warning("%s", exc.message)
    return problem_response(
        request,
        exc.status,
        exc.message,
        problem_type=exc.problem_type,
        title=exc.title,
        headers=exc.headers,
        extensions=exc.extensions,
    )


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [_request_error(e) for e in exc.errors()]
    return problem_response(
        request,
        422,
        _summary(errors),
        problem_type=INVALID_REQUEST,
        title="Invalid request",
        extensions={"errors": errors},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
        detail = f"no route {request.url.path}"
    elif exc.status_code == 405 and detail == HTTPStatus.METHOD_NOT_ALLOWED.phrase:
        detail = f"{request.method} is not a method of {request.url.path}"
    return problem_response(request, exc.status_code, detail, headers=exc.headers)


async def _bad_value(request: Request, exc: Exception) -> Response:
    # A value the client sent that PostgreSQL cannot hold or compare (a NUL character in
    # text, a number out of range): the request is wrong, not the server.
    _logger.info("refused a request value: %s", exc)
    return problem_response(request, 400, f"invalid value in the request: {exc}")


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    _logger.warning("database unavailable: %s", first_line)
    return problem_response(
        request, 503, "the database is unavailable right now (a failover?); retry shortly",
        headers={"Retry-After": "1"},
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Starlette logs the exception and re-raises it after this answer is sent.
    return problem_response(
        request, 500, "the server failed to answer this request; the failure is logged"
    )


_REF = "#/components/schemas/"
_SCHEMAS: Final[dict[str, Any]] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details (docs/api.md)",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri-reference"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string", "format": "uri-reference"},
        },
    },
    "RequestError": {
        "type": "object",
        "required": ["detail"],
        "properties": {
            "pointer": {"type": "string", "description": "RFC 6901 pointer into the body"},
            "in": {"type": "string", "enum": ["query", "path", "header", "cookie"]},
            "parameter": {"type": "string"},
            "detail": {"type": "string"},
        },
    },
    "InvalidRequestProblem": {
        "allOf": [
            {"$ref": f"{_REF}Problem"},
            {
                "type": "object",
                "required": ["errors"],
                "properties": {
                    "errors": {"type": "array", "items": {"$ref": f"{_REF}RequestError"}}
                },
            },
        ]
    },
}


def _document_problems(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document say that errors are problem documents."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI caches it: this edits the cached document once
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" in components:
            return schema
        components.update(_SCHEMAS)
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for code, response in operation.get("responses", {}).items():
                    if code[:1] in ("4", "5"):
                        kind = "InvalidRequestProblem" if code == "422" else "Problem"
                        response["content"] = {PROBLEM_JSON: {"schema": {"$ref": _REF + kind}}}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with a problem document (statuses unchanged), and say
    so in its OpenAPI document."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(psycopg.DataError, _bad_value)
    # A database that went away mid-request (a failover: cloud/db.py) is a 503, wherever
    # the route met it, not a 500; the client retries.
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
    _document_problems(app)

"""Every error answer is an RFC 9457 problem document (application/problem+json)."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
import pytest
from fastapi import FastAPI, HTTPException, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

from cloud.api.errors import (
    INVALID_REQUEST,
    PROBLEM_JSON,
    EventConflict,
    InvalidEpcis,
    NotFound,
    Unavailable,
    install_problem_handlers,
    problem,
)


class Login(BaseModel):
    username: str
    password: str
    remember: bool = False


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/sites/{site}")
    def site(site: str, limit: Annotated[int, Query(ge=1)] = 10) -> dict[str, Any]:
        if site == "gone":
            raise NotFound(f"no site {site!r}")
        if site == "down":
            raise Unavailable("database unavailable: connection refused")
        if site == "secret":
            raise HTTPException(401, "missing credentials", headers={"WWW-Authenticate": "Bearer"})
        if site == "nul":
            raise psycopg.DataError("A string literal cannot contain NUL (0x00) characters.")
        if site == "boom":
            raise RuntimeError("internal detail that must not leak")
        return {"site": site, "limit": limit}

    @app.post("/login")
    def login(body: Login) -> dict[str, str]:
        return {"user": body.username}

    @app.post("/capture")
    def capture() -> None:
        raise InvalidEpcis(
            "invalid EPCIS document: /type: expected EPCISDocument",
            headers={"GS1-EPCIS-Version": "2.0.0"},
            extensions={"errors": [{"pointer": "/type", "detail": "expected EPCISDocument"}]},
        )

    @app.post("/conflict")
    def conflict() -> None:
        raise EventConflict("1 event reuses an eventID", extensions={"event_ids": ["urn:x:1"]})

    install_problem_handlers(app)
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(_app(), raise_server_exceptions=False)


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == status
    return body


def test_api_errors_keep_their_status_with_about_blank(client: TestClient) -> None:
    assert _problem(client.get("/sites/gone"), 404) == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no site 'gone'",
        "instance": "/sites/gone",
    }
    assert _problem(client.get("/sites/down"), 503)["title"] == "Service Unavailable"


def test_http_exceptions_keep_their_headers(client: TestClient) -> None:
    response = client.get("/sites/secret")
    assert _problem(response, 401)["detail"] == "missing credentials"
    assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_route_and_method(client: TestClient) -> None:
    assert _problem(client.get("/nowhere"), 404)["detail"] == "no route /nowhere"
    assert _problem(client.delete("/login"), 405)["detail"] == "DELETE is not a method of /login"


def test_invalid_parameters_are_listed_by_name(client: TestClient) -> None:
    body = _problem(client.get("/sites/a", params={"limit": "many"}), 422)
    assert body["type"] == INVALID_REQUEST
    assert body["title"] == "Invalid request"
    assert body["errors"] == [
        {
            "in": "query",
            "parameter": "limit",
            "detail": "Input should be a valid integer, unable to parse string as an integer, "
            "got 'many'",
        }
    ]
    expected = f"invalid request: query parameter 'limit': {body['errors'][0]['detail']}"
    assert body["detail"] == expected


def test_invalid_bodies_are_listed_by_json_pointer(client: TestClient) -> None:
    body = _problem(client.post("/login", json={"password": 5, "remember": "perhaps"}), 422)
    assert body["errors"] == [
        {"pointer": "", "detail": "missing required member 'username'"},
        {"pointer": "/password", "detail": "Input should be a valid string"},  # not echoed
        {
            "pointer": "/remember",
            "detail": "Input should be a valid boolean, unable to interpret input, got 'perhaps'",
        },
    ]
    assert body["detail"].startswith("invalid request: /: missing required member 'username'; ")
    not_json = _problem(
        client.post("/login", content=b"{", headers={"content-type": "application/json"}), 422
    )
    assert not_json["errors"][0]["pointer"] == ""
    assert not_json["errors"][0]["detail"].startswith("the body is not valid JSON: ")
    assert _problem(client.post("/login"), 422)["errors"] == [
        {"pointer": "", "detail": "a JSON body is required"}
    ]


def test_database_refusing_a_value_is_the_client_s_fault(client: TestClient) -> None:
    body = _problem(client.get("/sites/nul"), 400)
    assert body["detail"].startswith("invalid value in the request: A string literal")


def test_an_unexpected_failure_says_nothing_internal(client: TestClient) -> None:
    body = _problem(client.get("/sites/boom"), 500)
    assert body["detail"] == "the server failed to answer this request; the failure is logged"
    assert "internal detail" not in str(body)


def test_epcis_problems_use_the_epcis_rest_binding_types(client: TestClient) -> None:
    response = client.post("/capture")
    body = _problem(response, 400)
    assert (body["type"], body["title"]) == (
        "epcisException:ValidationException",
        "Invalid EPCIS document",
    )
    assert body["errors"] == [{"pointer": "/type", "detail": "expected EPCISDocument"}]
    assert response.headers["gs1-epcis-version"] == "2.0.0"
    conflict = _problem(client.post("/conflict"), 409)
    assert conflict["type"] == "epcisException:ResourceAlreadyExistsException"
    assert conflict["event_ids"] == ["urn:x:1"]


def test_extensions_cannot_override_standard_members() -> None:
    document = problem(418, "short and stout", extensions={"status": 200, "type": "x"})
    assert (document["status"], document["type"], document["title"]) == (
        418,
        "about:blank",
        "I'm a Teapot",
    )


def test_the_openapi_document_describes_problems() -> None:
    app = _app()
    schema = app.openapi()
    responses = schema["paths"]["/sites/{site}"]["get"]["responses"]
    assert responses["422"]["content"] == {
        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/InvalidRequestProblem"}}
    }
    components = schema["components"]["schemas"]
    assert {"Problem", "RequestError", "InvalidRequestProblem"} <= components.keys()
    assert "HTTPValidationError" not in components
    assert app.openapi() == schema  # edited once, then served as cached

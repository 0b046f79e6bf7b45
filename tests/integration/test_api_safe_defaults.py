"""Acceptance: the API as ``channeltrace cloud api`` serves it, attacked over real sockets.

Each test starts the real command (uvicorn, the app, a real PostgreSQL) on a free loopback
port. Every request comes from 127.0.0.1, so "trusted proxy" or not is decided by
``CT_TRUSTED_PROXIES`` alone: unset (the default) no forwarded header counts; set to
127.0.0.1 the test client plays the TLS proxy.
"""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from channeltrace._process import LOOPBACK, free_port
from cloud.auth.users import create_user
from cloud.migrate import migrate

from .processes import Background, wait_for

pytestmark = pytest.mark.integration

USER, PASSWORD = "mei", "correct horse battery staple"
RATE = 5  # CT_PUBLIC_RATE_LIMIT per minute in these tests


@dataclass
class Api:
    port: int
    process: Background

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)


@pytest.fixture
def db(database_url: str) -> str:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme Wines')")
        create_user(conn, tenant_id="acme", username=USER, password=PASSWORD, role="brand")
    return database_url


@pytest.fixture
def start_api(db: str) -> Iterator[Callable[..., Api]]:
    """``start_api(trusted="")``: the real ``channeltrace cloud api`` process."""
    running: list[Background] = []

    def start(trusted: str = "") -> Api:
        port = free_port()
        env = {
            "CT_DATABASE_URL": db,
            "CT_PUBLIC_RATE_LIMIT": f"{RATE}/minute",
            "CT_TRUSTED_PROXIES": trusted,
        }
        process = Background(["cloud", "api", "--port", str(port)], env=env)
        running.append(process)
        api = Api(port, process)

        def up() -> bool:
            assert process.process.poll() is None, process.output()
            try:
                return httpx.get(f"{api.url}/openapi.json", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, 60, lambda: f"the API did not answer:\n{process.output()}")
        return api

    yield start
    for process in running:
        # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly
        assert process.stop() in (0, -15), process.output()


# ----------------------------------------------------------------------- request bodies


def _exchange(port: int, head: bytes, body_parts: Iterator[bytes]) -> tuple[bytes, int]:
    """Send ``head``, then body parts until the server answers; return (answer, bytes sent).

    The answer is read to the end of the connection: the server closes it after a 413.
    """
    sent = 0
    answer = b""
    with socket.create_connection((LOOPBACK, port), timeout=60) as sock:
        sock.sendall(head)
        for part in body_parts:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server has answered: stop sending, as a real client would
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(part)
        try:
            while chunk := sock.recv(65_536):
                answer += chunk
        except ConnectionResetError:
            pass  # the server reset the connection with our unread body in its buffer
    return answer, sent


def _parse(answer: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return status, headers, json.loads(body) if body else None


def _post_head(
    path: str, length: int | None, extra: str = "", content_type: str = "application/json"
) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\nContent-Type: {content_type}\r\n"
        f"{extra}{framing}\r\n\r\n"
    ).encode()


def test_a_huge_anonymous_capture_is_refused_before_its_body_is_read(
    start_api: Callable[..., Api],
) -> None:
    api = start_api()
    declared = 34_000_000  # the 34 MB: once parsed for 8 s and ~1 GB before its 401
    one_kib = iter([b"[" * 1_024])
    answer, sent = _exchange(api.port, _post_head("/epcis/capture", declared), one_kib)
    status, headers, body = _parse(answer)
    assert status == 413, answer
    assert headers["connection"] == "close"
    assert body["detail"] == (
        f"request body of {declared} bytes exceeds the limit for requests without "
        "credentials of 65536 bytes"
    )
    assert sent <= 1_024  # answered with 34 MB announced and at most 1 KiB of it sent

    # With a credential (checked only later, by the route) the capture limit applies.
    bearer = "Authorization: Bearer not-checked-before-the-limit\r\n"
    answer, _ = _exchange(api.port, _post_head("/epcis/capture", declared, bearer), iter([]))
    status, _, body = _parse(answer)
    assert status == 413
    assert body["detail"].endswith("exceeds the limit of /epcis/capture of 8388608 bytes")


def test_a_capture_with_credentials_may_be_larger_than_other_bodies(
    start_api: Callable[..., Api],
) -> None:
    api = start_api()
    document = json.dumps({"type": "EPCISDocument", "padding": "x" * 200_000}).encode()
    with api.client() as client:
        anonymous = client.post("/epcis/capture", content=document)
        assert anonymous.status_code == 413  # 200 kB: over the small limit, no credential
        bad_key = client.post("/epcis/capture", content=document, headers={"X-API-Key": "x"})
        assert bad_key.status_code == 401  # read (within 8 MiB), then the key is refused
        other = client.post("/auth/token", content=document, headers={"X-API-Key": "x"})
        assert other.status_code == 413  # elsewhere a credential changes nothing


def test_a_streamed_body_is_refused_once_it_passes_the_limit(
    start_api: Callable[..., Api],
) -> None:
    api = start_api()
    chunk = b"2000\r\n" + b"a" * 0x2000 + b"\r\n"  # 8 KiB chunks, and never the last one

    def endless() -> Iterator[bytes]:
        for _ in range(4_096):  # 32 MiB at most; the server answers long before
            yield chunk

    form = "application/x-www-form-urlencoded"  # the login form: its parser streams the body
    answer, sent = _exchange(api.port, _post_head("/auth/token", None, "", form), endless())
    status, headers, body = _parse(answer)
    assert status == 413, answer
    assert body["detail"] == "request body exceeds the limit of 65536 bytes"
    assert headers["connection"] == "close"
    assert sent < 4_096 * len(chunk)  # it did not wait for the end of an endless body


# ------------------------------------------------------------------ forwarded headers


def _login_attempts(
    client: httpx.Client, count: int, forwarded_for: Callable[[int], str]
) -> list[int]:
    statuses = []
    for i in range(count):
        response = client.post(
            "/auth/token",
            data={"username": USER, "password": "wrong"},
            headers={"X-Forwarded-For": forwarded_for(i)},
        )
        statuses.append(response.status_code)
    return statuses


def test_a_new_forwarded_for_per_request_does_not_escape_the_rate_limit(
    start_api: Callable[..., Api],
) -> None:
    api = start_api()  # CT_TRUSTED_PROXIES unset: nobody's X-Forwarded-For counts
    with api.client() as client:
        statuses = _login_attempts(client, RATE + 2, lambda i: f"198.51.100.{i}")
    assert statuses == [401] * RATE + [429, 429]


def test_behind_a_trusted_proxy_the_limit_keys_on_the_forwarded_client(
    start_api: Callable[..., Api],
) -> None:
    api = start_api(trusted="127.0.0.1")
    with api.client() as client:
        # many clients behind the proxy: each its own budget
        assert _login_attempts(client, RATE + 3, lambda i: f"198.51.100.{i}") == [401] * (RATE + 3)
        # one client: limited, and a spoofed hop to the left of it changes nothing
        same = _login_attempts(client, RATE + 1, lambda i: f"10.9.{i}.1, 203.0.113.5")
        assert same == [401] * RATE + [429]


def _login(client: httpx.Client, password: str, **headers: str) -> httpx.Response:
    return client.post(
        "/console/login",
        data={"username": USER, "password": password, "next": "/console/map"},
        headers=headers,
    )


def test_the_session_cookie_is_secure_only_over_tls_through_a_trusted_proxy(
    start_api: Callable[..., Api],
) -> None:
    direct = start_api()
    with direct.client() as client:
        response = _login(client, PASSWORD, **{"X-Forwarded-Proto": "https"})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("ct_session=")
    assert "secure" not in cookie.lower()  # a claim of HTTPS from anyone is not HTTPS

    proxied = start_api(trusted="127.0.0.1/32")
    with proxied.client() as client:
        response = _login(client, PASSWORD, **{"X-Forwarded-Proto": "https"})
        assert response.status_code == 303
        assert "; secure" in response.headers["set-cookie"].lower()
        plain = _login(client, PASSWORD, **{"X-Forwarded-Proto": "http"})
        assert "secure" not in plain.headers["set-cookie"].lower()


# ------------------------------------------------------------------ console login limit


def test_console_login_shares_the_login_rate_limit(start_api: Callable[..., Api]) -> None:
    api = start_api()
    with api.client() as client:
        assert _login_attempts(client, 2, lambda i: "1.2.3.4") == [401, 401]
        assert [_login(client, "wrong").status_code for _ in range(RATE - 2)] == [401] * 3
        refused = _login(client, PASSWORD)  # even the right password: the budget is spent
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "set-cookie" not in refused.headers
        assert "Too many attempts" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
        assert _login_attempts(client, 1, lambda i: "1.2.3.4") == [429]


# ------------------------------------------------------------------------ CSRF


def test_cookie_only_writes_need_the_csrf_token(start_api: Callable[..., Api]) -> None:
    api = start_api()
    with api.client() as client:
        session = _login(client, PASSWORD).cookies["ct_session"]
    thresholds = "/audit/brands/acme/thresholds"
    body = {"max_scans_per_window": 40}
    with api.client() as browser:
        browser.cookies.set("ct_session", session)
        assert browser.get(thresholds).status_code == 200  # reads need no token
        refused = browser.put(thresholds, json=body)
        assert refused.status_code == 403
        assert "X-CSRF-Token" in refused.json()["detail"]
        forged = browser.put(thresholds, json=body, headers={"X-CSRF-Token": "0" * 64})
        assert forged.status_code == 403
        token = browser.get("/auth/me").json()["csrf_token"]
        accepted = browser.put(thresholds, json=body, headers={"X-CSRF-Token": token})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["max_scans_per_window"] == 40
    with api.client() as program:  # a bearer token is never sent by a browser on its own
        bearer = program.post("/auth/token", data={"username": USER, "password": PASSWORD})
        auth = {"Authorization": f"Bearer {bearer.json()['access_token']}"}
        assert program.put(thresholds, json=body, headers=auth).status_code == 200
        assert "csrf_token" not in program.get("/auth/me", headers=auth).json()

"""The API's ASGI middleware on its own: body limits and forwarded headers (pure, no I/O)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any

import pytest
from pydantic import ValidationError

from cloud.api.middleware import BodyLimitMiddleware, RouteLimit, TrustedProxyMiddleware
from cloud.settings import Settings, settings_problems

Message = dict[str, Any]


class Recorder:
    """An ASGI app that reads the whole body and answers 200, remembering what it saw."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] | None = None
        self.body = b""
        self.disconnected = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                await send({"type": "http.response.start", "status": 400, "headers": []})
                await send({"type": "http.response.body", "body": b"client went away"})
                return
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _scope(path: str = "/x", headers: dict[str, str] | None = None, **extra: Any) -> Any:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "scheme": "http",
        "client": ("203.0.113.9", 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        **extra,
    }


def _run(app: Any, scope: Any, chunks: list[bytes]) -> tuple[list[Message], int]:
    """Feed ``chunks`` as the body; returns what was sent and how many chunks were taken."""
    sent: list[Message] = []
    taken = 0

    async def receive() -> Message:
        nonlocal taken
        if taken >= len(chunks):
            return {"type": "http.disconnect"}
        taken += 1
        return {"type": "http.request", "body": chunks[taken - 1], "more_body": taken < len(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, taken


def _status(sent: list[Message]) -> int:
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


def _body(sent: list[Message]) -> Any:
    parts = [m.get("body", b"") for m in sent if m["type"] == "http.response.body"]
    return json.loads(b"".join(parts))


# --------------------------------------------------------------------------- body limit


def _limited(inner: Any) -> BodyLimitMiddleware:
    return BodyLimitMiddleware(inner, default_bytes=1_000, routes=[RouteLimit("/capture", 5_000)])


def test_a_declared_length_over_the_limit_is_refused_without_reading_or_calling_the_app() -> None:
    inner = Recorder()
    sent, taken = _run(_limited(inner), _scope(headers={"content-length": "34000000"}), [b"x"])
    assert _status(sent) == 413
    assert taken == 0  # not one body message was read
    assert inner.scope is None  # the route never ran
    assert _body(sent)["detail"] == (
        "request body of 34000000 bytes exceeds the limit of 1000 bytes"
    )
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert (b"connection", b"close") in start["headers"]


def test_a_streamed_body_is_cut_off_once_it_passes_the_limit() -> None:
    inner = Recorder()
    chunks = [b"a" * 400] * 10  # 4,000 bytes, no Content-Length (chunked)
    sent, taken = _run(_limited(inner), _scope(), chunks)
    assert _status(sent) == 413
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert taken == 3  # 1,200 bytes read: the first chunk past the limit, no more
    assert inner.disconnected  # the route saw a client that went away; its answer was dropped
    assert len(inner.body) == 800


def test_bodies_within_the_limit_pass_untouched() -> None:
    inner = Recorder()
    sent, _ = _run(_limited(inner), _scope(headers={"content-length": "1000"}), [b"b" * 1_000])
    assert _status(sent) == 200
    assert inner.body == b"b" * 1_000


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 413),  # anonymous: the small limit, even on the capture route
        ({"authorization": "Bearer anything"}, 200),
        ({"x-api-key": "ct_anything"}, 200),
        ({"cookie": "theme=dark; ct_session=abc"}, 200),
        ({"cookie": "theme=dark"}, 413),
    ],
)
def test_the_route_limit_applies_to_callers_presenting_a_credential(
    headers: dict[str, str], status: int
) -> None:
    inner = Recorder()
    scope = _scope("/capture", {**headers, "content-length": "3000"})
    sent, _ = _run(_limited(inner), scope, [b"c" * 3_000])
    assert _status(sent) == status
    if status == 413:
        assert "the limit for requests without credentials of 1000 bytes" in _body(sent)["detail"]


def test_the_route_limit_is_a_limit_too() -> None:
    scope = _scope("/capture", {"authorization": "Bearer t", "content-length": "5001"})
    sent, _ = _run(_limited(Recorder()), scope, [b"d" * 5_001])
    assert _status(sent) == 413
    assert _body(sent)["detail"].endswith("exceeds the limit of /capture of 5000 bytes")


def test_a_malformed_content_length_is_a_bad_request() -> None:
    sent, _ = _run(_limited(Recorder()), _scope(headers={"content-length": "lots"}), [b""])
    assert _status(sent) == 400


def test_route_limits_are_checked_on_construction() -> None:
    with pytest.raises(ValueError, match="starts with '/'"):
        RouteLimit("capture", 10)
    with pytest.raises(ValueError, match="at least 1 byte"):
        BodyLimitMiddleware(Recorder(), default_bytes=0)


# --------------------------------------------------------------------- forwarded headers

FORWARDED = {
    "x-forwarded-for": "198.51.100.7",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "id.brand.example",
    "x-region": "CN-ZJ",
    "cf-ipcountry": "CN",
    "forwarded": "for=198.51.100.7",
    "accept": "application/json",
}


def _seen(trusted: list[str], peer: str, headers: dict[str, str]) -> dict[str, Any]:
    inner = Recorder()
    networks = [ipaddress.ip_network(t) for t in trusted]
    scope = _scope(headers={**headers, "content-length": "0"}, client=(peer, 40000))
    _run(TrustedProxyMiddleware(inner, trusted=networks), scope, [b""])
    assert inner.scope is not None
    return {
        "client": inner.scope["client"][0],
        "scheme": inner.scope["scheme"],
        "headers": {k.decode(): v.decode() for k, v in inner.scope["headers"]},
    }


def test_forwarded_headers_from_an_untrusted_peer_never_reach_the_routes() -> None:
    seen = _seen([], "203.0.113.9", FORWARDED)
    assert seen["client"] == "203.0.113.9"
    assert seen["scheme"] == "http"
    assert seen["headers"] == {"accept": "application/json", "content-length": "0"}


def test_forwarded_headers_from_a_trusted_proxy_are_applied() -> None:
    seen = _seen(["10.0.0.0/8"], "10.1.2.3", FORWARDED)
    assert seen["client"] == "198.51.100.7"
    assert seen["scheme"] == "https"
    assert seen["headers"]["x-forwarded-host"] == "id.brand.example"
    assert seen["headers"]["x-region"] == "CN-ZJ"


def test_the_client_is_the_right_most_address_that_is_not_a_trusted_proxy() -> None:
    # The client claims to be 1.1.1.1; our proxy (10.0.0.1) appended the real peer; a second
    # proxy of ours (10.0.0.2) appended the first.
    chain = {"x-forwarded-for": "1.1.1.1, 198.51.100.7, 10.0.0.1"}
    assert _seen(["10.0.0.0/24"], "10.0.0.2", chain)["client"] == "198.51.100.7"


def test_a_trusted_ipv4_proxy_seen_through_a_dual_stack_socket_is_trusted() -> None:
    assert _seen(["10.0.0.0/8"], "::ffff:10.1.2.3", FORWARDED)["client"] == "198.51.100.7"


def test_a_peer_outside_the_trusted_networks_is_not_trusted() -> None:
    assert _seen(["10.0.0.0/8"], "11.0.0.1", FORWARDED)["client"] == "11.0.0.1"
    assert _seen(["10.0.0.0/8"], "testclient", FORWARDED)["client"] == "testclient"


# ----------------------------------------------------------------------------- settings


def test_trusted_proxies_come_from_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CT_TRUSTED_PROXIES", " 10.0.0.5, 172.18.0.0/16 ,::1,")
    assert [str(n) for n in Settings().trusted_proxies] == [
        "10.0.0.5/32",
        "172.18.0.0/16",
        "::1/128",
    ]
    monkeypatch.setenv("CT_TRUSTED_PROXIES", "10.0.0.5, proxy.internal")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert settings_problems(caught.value) == (
        "CT_TRUSTED_PROXIES: expected IP addresses or CIDR networks separated by commas, "
        "got 'proxy.internal'"
    )


def test_nobody_is_trusted_and_bodies_are_small_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CT_TRUSTED_PROXIES", "CT_API_MAX_BODY_BYTES", "CT_API_MAX_CAPTURE_BYTES"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.trusted_proxies == ()
    assert settings.api_max_body_bytes == 64 * 1024
    assert settings.api_max_capture_bytes == 8 * 1024 * 1024

"""A demo step that fails says so in one line with the server's words, never a traceback."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from channeltrace.demo import _step
from channeltrace.demo_api import ApiClient, _error_detail
from channeltrace.errors import ApiRequestFailed, DemoStepFailed


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"type":"about:blank","title":"Service Unavailable","status":503,'
         b'"detail":"database unreachable"}', "database unreachable"),
        (b'{"title":"Forbidden","status":403}', "Forbidden"),
        (b'{"detail":[{"loc":["query","tenant"],"msg":"required"}]}',
         '[{"loc": ["query", "tenant"], "msg": "required"}]'),
        (b"plain\n text  body", "plain text body"),
        (b"", "(empty body)"),
        (b"x" * 1000, "x" * 300 + "…"),
    ],
)
def test_error_detail_is_the_servers_words_on_one_line(body: bytes, detail: str) -> None:
    assert _error_detail(body) == detail


def test_a_step_turns_any_error_into_one_line() -> None:
    with pytest.raises(DemoStepFailed) as caught, _step("provenance"):
        raise ApiRequestFailed("POST", "/epcis/capture", 503, "schema unavailable")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("demo step 'provenance' failed: the API POST /epcis/capture")
    assert "503: schema unavailable" in message
    assert "rerun with -v" in message

    with pytest.raises(DemoStepFailed) as caught, _step("alerts"):
        raise KeyError("multi\nline")
    assert "\n" not in str(caught.value)
    assert "KeyError" in str(caught.value)


class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.dumps({"title": "Service Unavailable", "status": 503,
                           "detail": "EPCIS schema not found"}).encode()  # fmt: skip
        self.send_response(503)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_api_client_reports_status_and_problem_detail(refusing_server: str) -> None:
    with pytest.raises(ApiRequestFailed) as caught:
        ApiClient(refusing_server).post("/epcis/capture", {"a": 1})
    assert caught.value.status == 503
    assert caught.value.detail == "EPCIS schema not found"


def test_api_client_reports_no_answer() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ApiRequestFailed) as caught:
        ApiClient(f"http://127.0.0.1:{port}").get("/v1/tenants")
    assert caught.value.status is None
    assert "got no answer" in str(caught.value)


def test_the_demo_command_fails_in_one_line_without_a_traceback() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "CT_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{port}/none?connect_timeout=2",
        "CT_MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "CT_ETH_RPC_URL": f"http://127.0.0.1:{port}",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "channeltrace", "demo", "--duration", "1"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "demo step 'services' failed" in errors[0]
    assert "rerun with -v" in errors[0]

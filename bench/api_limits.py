"""Body-limit benchmark: what one hostile anonymous POST costs the API.

Run: ``.venv/bin/python bench/api_limits.py [--megabytes 34]``. Prints figures; asserts
nothing. Starts its own PostgreSQL and, twice, the real ``channeltrace cloud api`` on
127.0.0.1: once with the default limits, once with ``CT_API_MAX_BODY_BYTES`` and
``CT_API_MAX_CAPTURE_BYTES`` raised above the body (the baseline: the API before the
limits, which read and parsed any body before authenticating). Each time it sends the
same anonymous ``POST /epcis/capture`` of a JSON document of ``--megabytes`` and reports
the status, the seconds to the answer, the bytes the client managed to send, and how much
the server process's peak resident memory (VmHWM) grew.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from channeltrace._process import LOOPBACK, free_port  # noqa: E402
from channeltrace.services import start_postgres  # noqa: E402
from cloud.migrate import migrate  # noqa: E402


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit(f"no VmHWM for process {pid}")


def _wait_for(port: int, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the API exited with {server.returncode}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the API did not listen on {port} within {timeout:g} s")


def _document(megabytes: float) -> bytes:
    """An EPCIS-shaped document of about ``megabytes`` (many small events: costly to parse)."""
    event = {"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2026-01-01T00:00:00Z",
             "eventTimeZoneOffset": "+00:00", "epcList": ["urn:epc:id:sgtin:9506000.134352.1"],
             "bizStep": "shipping"}  # fmt: skip
    one = len(json.dumps(event)) + 2
    count = int(megabytes * 1_000_000 / one)
    document = {"type": "EPCISDocument", "schemaVersion": "2.0",
                "creationDate": "2026-01-01T00:00:00Z",
                "epcisBody": {"eventList": [event] * count}}  # fmt: skip
    return json.dumps(document).encode()


def _post(port: int, body: bytes) -> tuple[int, float, int]:
    """(status, seconds to the answer, bytes sent) of an anonymous capture of ``body``."""
    head = (
        f"POST /epcis/capture HTTP/1.1\r\nHost: {LOOPBACK}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sent = 0
    started = time.perf_counter()
    with socket.create_connection((LOOPBACK, port), timeout=300) as sock:
        sock.sendall(head)
        view = memoryview(body)
        sock.setblocking(False)
        answer = b""
        while not answer.endswith(b"}"):
            try:
                chunk = sock.recv(65_536)
                if not chunk:
                    break
                answer += chunk
                continue
            except BlockingIOError:
                pass
            if sent < len(body):
                try:
                    sent += sock.send(view[sent : sent + 262_144])
                except BlockingIOError:
                    time.sleep(0.001)
                except (BrokenPipeError, ConnectionResetError):
                    sent = len(body)
            else:
                time.sleep(0.001)
    elapsed = time.perf_counter() - started
    status = int(answer.split(b" ", 2)[1]) if answer else 0
    return status, elapsed, sent


def _run(database_url: str, body: bytes, limits: dict[str, str]) -> tuple[int, float, int, int]:
    port = free_port()
    env = {**os.environ, "CT_DATABASE_URL": database_url, "CT_ENVIRONMENT": "development",
           **limits}  # fmt: skip
    command = [str(Path(sys.executable).with_name("channeltrace")), "cloud", "api",
               "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for(port, server)
        before = _peak_rss_kib(server.pid)
        status, seconds, sent = _post(port, body)
        grown = _peak_rss_kib(server.pid) - before
    finally:
        server.terminate()
        server.wait(30)
    return status, seconds, sent, grown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=34.0)
    args = parser.parse_args()
    body = _document(args.megabytes)
    workdir = Path(tempfile.mkdtemp(prefix="ct-bench-limits-"))
    workdir.chmod(0o755)
    try:
        with start_postgres(workdir / "pg") as pg:
            url = pg.create_database("bench")
            migrate(url)
            raised = str(len(body) * 2)
            runs = [
                ("baseline: limits raised above the body", {
                    "CT_API_MAX_BODY_BYTES": raised, "CT_API_MAX_CAPTURE_BYTES": raised}),
                ("default limits (64 KiB anonymous)", {}),
            ]  # fmt: skip
            print(f"anonymous POST /epcis/capture of {len(body) / 1e6:.1f} MB:")
            for label, limits in runs:
                status, seconds, sent, grown = _run(url, body, limits)
                print(f"  {label:40s} {status}  {seconds:7.3f} s  sent {sent / 1e6:6.1f} MB"
                      f"  server peak RSS +{grown / 1024:7.1f} MiB")  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The load of the failover run: EPCIS captures and consumer scans over HTTP, and watchers.

Each client is a thread that keeps what it saw with the time it saw it, so that the run can
say afterwards what happened during each switch:

* :class:`CaptureClient` posts one EPCIS document (one commissioning event, a fresh
  ``eventID``) at a time, as an integrator would: a refusal or a dropped connection is
  retried with the same document until it is acknowledged (2xx), which the eventID makes
  idempotent; every acknowledged event and the ledger index the API gave it is kept;
* :class:`ScanClient` resolves real trace codes like a phone (JSON), keeping each answer's
  status (``200``, ``503``, ``timeout``, ``connect-error``);
* :class:`CommitWatcher` counts committed ingest messages on the writers' URL, so the run
  can tell when the ingest wrote again after a fault.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Answer", "CaptureClient", "CommitWatcher", "ScanClient", "capture_document"]

_logger = logging.getLogger(__name__)
_TIMEOUT_S = 60.0  # longer than any switch: a hung request is reported, not abandoned


@dataclass(frozen=True, slots=True)
class Answer:
    sent: float  # time.monotonic() when the request left
    done: float
    status: str  # "202", "503", "timeout", "connect-error", ...

    @property
    def ok(self) -> bool:
        return self.status.startswith("2")


def capture_document(epc: str, event_id: str, location: str) -> dict[str, Any]:
    """An EPCIS 2.0 document of one commissioning event."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": now,
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventID": event_id, "eventTime": now,
            "eventTimeZoneOffset": "+08:00", "epcList": [epc], "action": "ADD",
            "bizStep": "commissioning", "bizLocation": {"id": location},
            "readPoint": {"id": location},
        }]},
    }  # fmt: skip


def _status(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect-error"
    return type(exc).__name__


class _Client(threading.Thread):
    def __init__(self, name: str, base_url: str, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.base_url = base_url
        self.stop_event = stop
        self.answers: list[Answer] = []

    def _get_or_post(self, http: Any, method: str, path: str, **kwargs: Any) -> tuple[str, Any]:
        sent = time.monotonic()
        try:
            response = http.request(method, path, **kwargs)
            status, body = str(response.status_code), response
        except Exception as exc:  # any transport failure is an answer of its own kind
            status, body = _status(exc), None
        self.answers.append(Answer(sent, time.monotonic(), status))
        return status, body


class CaptureClient(_Client):
    """Captures one event per EPC in turn, each retried until acknowledged."""

    def __init__(self, base_url: str, api_key: str, epcs: Sequence[str], location: str,
                 stop: threading.Event, every_s: float = 0.2) -> None:  # fmt: skip
        super().__init__("capture-client", base_url, stop)
        self.api_key, self.epcs, self.location, self.every_s = api_key, epcs, location, every_s
        self.acked: dict[str, int] = {}  # eventID -> ledger index the API answered

    def run(self) -> None:
        import httpx

        headers = {"X-API-Key": self.api_key}
        with httpx.Client(base_url=self.base_url, timeout=_TIMEOUT_S, headers=headers) as http:
            for epc in self.epcs:
                event_id = f"urn:uuid:{uuid.uuid4()}"
                document = capture_document(epc, event_id, self.location)
                while not self.stop_event.is_set():
                    status, response = self._get_or_post(http, "POST", "/epcis/capture",
                                                         json=document)  # fmt: skip
                    if status.startswith("2"):
                        event = response.json()["events"][0]
                        self.acked[event["event_id"]] = int(event["ledger_index"])
                        break
                    if status.startswith("4"):
                        _logger.error("capture refused %s: %s", status, response.text[:300])
                        break
                    self.stop_event.wait(0.2)  # the same document again: idempotent
                if self.stop_event.wait(self.every_s):
                    return


class ScanClient(_Client):
    """Resolves the given trace code paths round-robin, as fast as answers come."""

    def __init__(self, base_url: str, paths: Sequence[str], stop: threading.Event,
                 pause_s: float = 0.05, name: str = "scan-client") -> None:  # fmt: skip
        super().__init__(name, base_url, stop)
        self.paths, self.pause_s = paths, pause_s

    def run(self) -> None:
        import httpx

        headers = {"Accept": "application/json"}
        with httpx.Client(base_url=self.base_url, timeout=_TIMEOUT_S, headers=headers) as http:
            index = 0
            while not self.stop_event.is_set():
                self._get_or_post(http, "GET", self.paths[index % len(self.paths)])
                index += 1
                self.stop_event.wait(self.pause_s)


@dataclass(eq=False)
class CommitWatcher(threading.Thread):
    """Samples ``count(*)`` of ``ingest_log`` every ``every_s`` on the writers' URL."""

    database_url: str
    stop_event: threading.Event
    every_s: float = 0.2
    samples: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(name="commit-watcher", daemon=True)

    def run(self) -> None:
        import psycopg

        from cloud.db import writer_conninfo

        conninfo = writer_conninfo(self.database_url, application_name="ct-failover-watch")
        conn: psycopg.Connection[Any] | None = None
        while not self.stop_event.wait(self.every_s):
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=2)
                row = conn.execute("SELECT count(*) FROM ingest_log").fetchone()
                self.samples.append((time.monotonic(), int(row[0]) if row else 0))
            except psycopg.Error:
                if conn is not None:
                    with contextlib.suppress(psycopg.Error):
                        conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def resumed_after(self, t0: float) -> float | None:
        """When the count first grew beyond what the first answer after ``t0`` said: by
        then the ingest was committing again (a sampling interval of resolution)."""
        after = [(t, n) for t, n in self.samples if t > t0]
        if not after:
            return None
        first = after[0][1]
        return next((t for t, n in after if n > first), None)


def statuses(answers: Sequence[Answer], start: float, end: float) -> Counter[str]:
    """Answers to requests sent in [start, end), by status."""
    return Counter(a.status for a in answers if start <= a.sent < end)

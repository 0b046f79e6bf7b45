"""Database connections that follow the primary, pools that drop broken connections, and
retries of idempotent work.

Every cloud component opens its connections here. A database URL may name several hosts
(libpq multi-host, ``postgresql://u@a:5432,b:5432,c:5432/db``): writers get
``target_session_attrs=read-write`` unless the URL says otherwise, so that after a Patroni
failover a new connection finds the new primary, whatever order the hosts are in. Every
connection carries TCP keepalives (a server that vanished from the network is noticed in
about 11 s, not after the kernel's two hours) and a connect timeout per host.

Retries use tenacity (exponential backoff with jitter; the sleep is a :class:`threading.Event`
wait, so a stopping worker is not held by a backoff). Only *transient* failures are
retried (:func:`is_transient`): the connection is gone or the server is shutting down,
starting, or read-only because it was demoted. A statement the database refuses (a
constraint, a type) is never retried. Only idempotent work may be retried: in this project
that is everything keyed so that a repeat is absorbed (an ingest batch by (device, seq), an
EPCIS capture by eventID, a scheduler job by design).

Synchronous replication (docs/operations.md, "High availability"): with Patroni's
``synchronous_mode`` a COMMIT returns only once the synchronous standby has flushed it.
A commit whose outcome is unknown (the connection broke during COMMIT) raises here as
transient; the caller repeats the idempotent work and never acknowledges in between.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import tenacity
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

__all__ = [
    "KEEPALIVES",
    "connect",
    "host_count",
    "is_transient",
    "make_pool",
    "reader_conninfo",
    "retrying",
    "writable",
    "writer_conninfo",
]

_logger = logging.getLogger(__name__)

T = TypeVar("T")

# TCP keepalives: probe after 5 s idle, every 2 s, give up after 3 unanswered (~11 s).
KEEPALIVES: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}
CONNECT_TIMEOUT_S = 5  # per host of a multi-host URL (libpq applies it to each)
# Server states in which the same work succeeds on another try (or another node).
_TRANSIENT = (
    errors.ReadOnlySqlTransaction,  # a demoted primary, or a replica reached by mistake
    errors.AdminShutdown,
    errors.CrashShutdown,
    errors.CannotConnectNow,
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unreachable or changing roles (retry), rather
    than that it refused the work (do not)."""
    if isinstance(exc, _TRANSIENT):
        return True
    if isinstance(exc, errors.QueryCanceled):
        return False  # a statement timeout or a cancel: the work itself is the problem
    return isinstance(exc, psycopg.OperationalError)


def host_count(url: str) -> int:
    """How many hosts a libpq URL or keyword string names (1 for a plain URL)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return 1
    return max(1, len(str(params.get("host") or "").split(",")))


def writer_conninfo(url: str, *, application_name: str | None = None, **extra: Any) -> str:
    """``url`` with keepalives, a connect timeout and, when it names several hosts and
    chooses no session type, ``target_session_attrs=read-write``."""
    params = conninfo_to_dict(url)
    options: dict[str, Any] = {**KEEPALIVES, "connect_timeout": CONNECT_TIMEOUT_S}
    options.update({k: v for k, v in params.items() if k in KEEPALIVES or k == "connect_timeout"})
    if host_count(url) > 1 and "target_session_attrs" not in params:
        options["target_session_attrs"] = "read-write"
    if application_name and "application_name" not in params:
        options["application_name"] = application_name
    options.update(extra)
    return make_conninfo(url, **options)


def reader_conninfo(url: str, *, application_name: str | None = None) -> str:
    """Like :func:`writer_conninfo`, for a read URL: its session type is kept as given
    (``prefer-standby``, ``read-only``, ``standby``), never forced to read-write."""
    params = conninfo_to_dict(url)
    options: dict[str, Any] = {**KEEPALIVES, "connect_timeout": CONNECT_TIMEOUT_S}
    options.update({k: v for k, v in params.items() if k in KEEPALIVES or k == "connect_timeout"})
    if application_name and "application_name" not in params:
        options["application_name"] = application_name
    return make_conninfo(url, **options)


def connect(
    url: str, *, autocommit: bool = False, application_name: str | None = None
) -> psycopg.Connection[Any]:
    """A connection to the primary (see :func:`writer_conninfo`)."""
    conninfo = writer_conninfo(url, application_name=application_name)
    return psycopg.connect(conninfo, autocommit=autocommit)


def make_pool(
    url: str,
    *,
    name: str,
    min_size: int = 1,
    max_size: int = 10,
    reader: bool = False,
    autocommit: bool = True,
    open_now: bool = False,
    max_lifetime_s: float = 1800.0,
) -> ConnectionPool[psycopg.Connection[Any]]:
    """A pool whose connections are checked before each loan: a connection broken by a
    failover (server gone, or now read-only when lent for writing) is discarded and
    replaced, so the next request gets a working one instead of an error.

    Not opened unless ``open_now``: call ``pool.open(wait=False)`` to start while the
    database is down (borrowers then wait up to their timeout).
    """
    conninfo = (reader_conninfo if reader else writer_conninfo)(url, application_name=name)
    check = ConnectionPool.check_connection if reader else _check_writable
    pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": autocommit},
        check=check,
        max_lifetime=max_lifetime_s,
        reconnect_timeout=0,  # keep trying for ever: a database may be down for a while
        open=False,
        name=name,
    )
    if open_now:
        pool.open(wait=False)
    return pool


def writable(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether ``conn`` may write, from what the server reports (no round trip): not a
    standby and not read-only by default (a read URL with
    ``options=-c default_transaction_read_only=on``)."""
    info = conn.info
    return info.parameter_status("in_hot_standby") not in ("on", b"on") and (
        info.parameter_status("default_transaction_read_only") not in ("on", b"on")
    )


def _check_writable(conn: psycopg.Connection[Any]) -> None:
    """A writer's connection must still be on a primary: a node demoted after we connected
    restarts (connections drop), but one that is read-only for another reason would refuse
    every write with 25006; either way the pool replaces it."""
    ConnectionPool.check_connection(conn)
    if conn.info.parameter_status("in_hot_standby") in ("on", b"on"):
        raise psycopg.OperationalError(
            f"{conn.info.host}:{conn.info.port} is a standby now; a primary was expected"
        )


def retrying(
    *,
    what: str,
    stop: threading.Event | None = None,
    max_delay_s: float = 5.0,
    give_up_after_s: float | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
) -> tenacity.Retrying:
    """A tenacity loop for idempotent work against the database::

        for attempt in retrying(what="commit a batch", stop=stop_event):
            with attempt:
                write(...)

    Retries transient failures (:func:`is_transient`) with exponential backoff and jitter
    (0.2 s doubling, at most ``max_delay_s``), logging each at WARNING with the reason.
    Ends when ``stop`` is set (raising :class:`tenacity.RetryError`) or after
    ``give_up_after_s`` (re-raising the last error); otherwise for ever.
    """
    event = stop if stop is not None else threading.Event()
    stops: list[tenacity.stop.stop_base] = [tenacity.stop_when_event_set(event)]
    if give_up_after_s is not None:
        stops.append(tenacity.stop_after_delay(give_up_after_s))

    def log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        if exc is not None and on_retry is not None:
            on_retry(exc)
        _logger.warning(
            "%s: database unavailable (%s); retry %d in %.1f s",
            what, _first_line(exc), state.attempt_number, delay,
        )  # fmt: skip

    def sleep(seconds: float) -> None:
        event.wait(seconds)  # a stop request ends the backoff at once

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        wait=tenacity.wait_exponential_jitter(multiplier=0.2, max=max_delay_s, jitter=0.2),
        stop=tenacity.stop_any(*stops),
        sleep=sleep,
        before_sleep=log_retry,
        reraise=give_up_after_s is not None,
    )


def _first_line(exc: BaseException | None) -> str:
    text = str(exc or "").strip()
    return text.splitlines()[0] if text else type(exc).__name__

"""cloud.db: connection strings that follow the primary, and which failures are retried."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import tenacity
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from cloud.db import (
    KEEPALIVES,
    host_count,
    is_transient,
    reader_conninfo,
    retrying,
    writer_conninfo,
)

THREE = "postgresql://ct@10.0.0.1:5432,10.0.0.2:5432,10.0.0.3:5432/channeltrace"


def test_a_multi_host_url_gets_read_write_sessions_keepalives_and_a_connect_timeout() -> None:
    params = conninfo_to_dict(writer_conninfo(THREE, application_name="ct-ingest"))
    assert params["host"] == "10.0.0.1,10.0.0.2,10.0.0.3"
    assert params["target_session_attrs"] == "read-write"
    assert params["application_name"] == "ct-ingest"
    assert params["connect_timeout"] == "5"
    for name, value in KEEPALIVES.items():
        assert params[name] == str(value)


def test_what_the_url_says_wins() -> None:
    url = f"{THREE}?target_session_attrs=any&keepalives_idle=30&application_name=mine"
    params = conninfo_to_dict(writer_conninfo(url, application_name="ct-api"))
    assert params["target_session_attrs"] == "any"
    assert params["keepalives_idle"] == "30"
    assert params["application_name"] == "mine"


def test_one_host_needs_no_session_type_and_a_reader_keeps_its_own() -> None:
    single = conninfo_to_dict(writer_conninfo("postgresql://ct@db:5432/channeltrace"))
    assert "target_session_attrs" not in single
    reader = conninfo_to_dict(reader_conninfo(f"{THREE}?target_session_attrs=prefer-standby"))
    assert reader["target_session_attrs"] == "prefer-standby"
    assert host_count(THREE) == 3
    assert host_count("host=a,b dbname=x") == 2
    assert host_count("postgresql://ct@db/x") == 1


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (psycopg.OperationalError("server closed the connection unexpectedly"), True),
        (errors.AdminShutdown("terminating connection due to administrator command"), True),
        (errors.CannotConnectNow("the database system is starting up"), True),
        (errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"), True),
        (errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (errors.UniqueViolation("duplicate key"), False),
        (errors.UndefinedTable("relation does not exist"), False),
        (ValueError("not a database error"), False),
    ],
)
def test_which_failures_are_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_retrying_repeats_transient_failures_then_returns() -> None:
    calls: list[int] = []
    seen: list[BaseException] = []
    for attempt in retrying(what="test", max_delay_s=0.01, on_retry=seen.append):
        with attempt:
            calls.append(1)
            if len(calls) < 3:
                raise psycopg.OperationalError("connection refused")
    assert len(calls) == 3
    assert len(seen) == 2


def _fail_with(exc: BaseException, calls: list[int], **options: object) -> None:
    for attempt in retrying(what="test", **options):  # type: ignore[arg-type]
        with attempt:
            calls.append(1)
            raise exc


def test_retrying_never_repeats_a_refusal() -> None:
    calls: list[int] = []
    with pytest.raises(errors.UniqueViolation):
        _fail_with(errors.UniqueViolation("duplicate key"), calls, max_delay_s=0.01)
    assert calls == [1]


def test_a_stop_request_ends_the_backoff_at_once() -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    began = time.monotonic()
    calls: list[int] = []
    with pytest.raises(tenacity.RetryError):
        _fail_with(psycopg.OperationalError("refused"), calls, stop=stop, max_delay_s=600)
    assert time.monotonic() - began < 300  # not a 600 s backoff: the stop woke it


def test_giving_up_reraises_the_last_error() -> None:
    calls: list[int] = []
    with pytest.raises(psycopg.OperationalError, match="refused"):
        _fail_with(psycopg.OperationalError("refused"), calls, max_delay_s=0.01,
                   give_up_after_s=0.05)  # fmt: skip
    assert len(calls) > 1

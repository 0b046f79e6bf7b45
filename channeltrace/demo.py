"""``channeltrace demo``: the whole system on embedded defaults, in one command.

Starts its own Mosquitto and PostgreSQL (and anvil when installed) unless ``CT_MQTT_URL``
/ ``CT_DATABASE_URL`` are set, then walks through what is built: simulated warehouses
streaming through real edge agents and the ingest (with a broker outage, a remote config
and an attacker), the read API, and the provenance ledger.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channeltrace.demo_fleet import FLEET, TENANT, count_rows, provision_fleet, run_fleet, tamper
from channeltrace.errors import ApiRequestFailed, DemoStepFailed

__all__ = ["DemoResult", "run_demo"]

_logger = logging.getLogger(__name__)
Say = Callable[[str], None]


@dataclass
class DemoResult:
    readings_taken: int = 0
    readings_stored: int = 0
    duplicates: int = 0  # redeliveries the ingest absorbed (not stored again)
    duplicated_rows: int = 0  # readings stored more than once: must be 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    latest: list[tuple[str, str, float, float]] = field(default_factory=list)
    devices: list[tuple[str, str]] = field(default_factory=list)
    config_ack: dict[str, Any] = field(default_factory=dict)
    outage_s: float = 0.0
    series_points: int = 0
    sections: list[tuple[str, list[str]]] = field(default_factory=list)


@dataclass(frozen=True)
class Services:
    mqtt_url: str
    database_url: str
    broker: Any | None  # our own Mosquitto, which the demo may stop and start
    chain_url: str | None


@contextmanager
def _services(stack: ExitStack, workdir: Path, say: Say) -> Iterator[Services]:
    from channeltrace.services import ServiceError, start_mosquitto, start_postgres

    broker = None
    mqtt_url = os.environ.get("CT_MQTT_URL")
    if mqtt_url is None:
        # Persistence keeps the ingest's session (and its queue) across a broker restart.
        broker = stack.enter_context(start_mosquitto(workdir / "mosquitto", persistence=True))
        mqtt_url = broker.url
        say(f"started Mosquitto on {mqtt_url}")
    else:
        say(f"using the broker at {mqtt_url} (CT_MQTT_URL)")
    database_url = os.environ.get("CT_DATABASE_URL")
    if database_url is None:
        pg = stack.enter_context(start_postgres(workdir / "postgres"))
        database_url = pg.create_database("channeltrace_demo")
        say(f"started PostgreSQL ({pg.bindir}) on {pg.host}:{pg.port}")
    else:
        say("using the database at CT_DATABASE_URL")
    chain_url = os.environ.get("CT_ETH_RPC_URL")
    if chain_url is None:
        from channeltrace.chain import start_anvil

        try:
            chain = start_anvil(workdir)
        except ServiceError as exc:
            say(f"no Ethereum dev chain: {exc} — checkpoints will be signed, not anchored")
        else:
            stack.callback(chain.stop)
            chain_url = chain.url
            say(f"started anvil (chain id {chain.chain_id}) on {chain.url}")
    yield Services(mqtt_url, database_url, broker, chain_url)


_RERUN = "rerun with -v (and --keep DIR to keep the services' data and logs) to see the details"


@contextmanager
def _step(name: str) -> Iterator[None]:
    """Turn whatever goes wrong in one step into a one-line :class:`DemoStepFailed`."""
    from channeltrace._process import ServiceError

    try:
        yield
    except DemoStepFailed:
        raise
    except ApiRequestFailed as exc:
        raise DemoStepFailed(name, f"the API {exc}", _RERUN) from exc
    except ServiceError as exc:
        hint = (
            "run `make demo` as root to install it, or point CT_MQTT_URL / CT_DATABASE_URL "
            "at running services"
        )
        raise DemoStepFailed(name, " ".join(str(exc).split()), hint) from exc
    except Exception as exc:  # each step's own errors vary; the person needs one line
        _logger.debug("demo step %s failed", name, exc_info=True)
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise DemoStepFailed(name, f"{type(exc).__name__}: {problem}", _RERUN) from exc


def _start_ingest(stack: ExitStack, services: Services, cloud_key: Any) -> None:
    from cloud.ingest.worker import IngestOptions, IngestWorker

    stop = threading.Event()
    client_id = f"ct-demo-ingest-{uuid.uuid4().hex[:6]}"
    # The cloud key signs the storage receipts on which the agents free their outboxes.
    worker = IngestWorker(
        IngestOptions(services.database_url, services.mqtt_url, client_id, receipt_key=cloud_key)
    )
    thread = threading.Thread(target=worker.run, args=(stop,), name="ingest", daemon=True)
    thread.start()
    stack.callback(thread.join, 30)
    stack.callback(stop.set)
    if not worker.subscribed.wait(15):
        raise RuntimeError("ingest did not subscribe to the broker within 15 s")


def _stream(
    stack: ExitStack,
    services: Services,
    workdir: Path,
    duration: float,
    interval: float,
    result: DemoResult,
    say: Say,
) -> None:
    """Real agents sample and publish through the ingest, across a broker outage."""
    from wire import format_public_key, generate_private_key

    config_key = generate_private_key()  # the cloud key: remote config and storage receipts
    agents = provision_fleet(workdir, services.mqtt_url, services.database_url, interval,
                             format_public_key(config_key))  # fmt: skip
    fleet = ", ".join(f"{d} ({p} at {s})" for d, s, _, p in FLEET)
    say(f"provisioned and registered {len(agents)} gateways: {fleet}")
    _start_ingest(stack, services, config_key)
    say("ingest subscribed; agents sampling")
    outcome = run_fleet(agents, duration, database_url=services.database_url,
                        mqtt_url=services.mqtt_url, broker=services.broker,
                        config_key=config_key, say=say)  # fmt: skip
    result.readings_taken = outcome.readings_taken
    result.config_ack = outcome.config_ack
    result.outage_s = outcome.outage_s


def _attack(services: Services, workdir: Path, result: DemoResult, say: Say) -> None:
    """Tampered, forged, replayed and garbage messages, then what was stored and refused."""
    say("attacker publishes a tampered, a forged, a replayed and a garbage message ...")
    first = FLEET[0]
    tamper(services.mqtt_url, workdir / "devices" / first[0], first[0], first[1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stored = count_rows(services.database_url, "SELECT count(*) FROM readings")
        dead = count_rows(services.database_url, "SELECT count(*) FROM dead_letters")
        if stored >= result.readings_taken and dead >= 4:
            break
        time.sleep(0.2)
    _delivery(result, services.database_url)


def _delivery(result: DemoResult, database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url) as conn:
        reasons = conn.execute(
            "SELECT reason, count(*) FROM dead_letters GROUP BY reason"
        ).fetchall()
        dup = conn.execute("SELECT coalesce(sum(duplicates), 0) FROM ingest_log").fetchone()
    result.readings_stored = count_rows(database_url, "SELECT count(*) FROM readings")
    result.duplicated_rows = count_rows(
        database_url,
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM readings"
        " GROUP BY device_id, seq, sensor, metric, time) r",
    )
    result.duplicates = int(dup[0]) if dup else 0
    result.dead_letters = {str(reason): int(n) for reason, n in reasons}


def _read_api(result: DemoResult, api: Any) -> None:
    """What a brand's dashboard reads: device state, latest conditions, a series."""
    devices = api.get(f"/v1/tenants/{TENANT}/devices")
    result.devices = [(d["id"], d.get("online_state", d.get("status", "?"))) for d in devices]
    for _device, site, _region, _profile in FLEET:
        latest = api.get(f"/v1/tenants/{TENANT}/sites/{site}/readings/latest")
        values = {r["metric"]: r["value"] for r in latest if r.get("value") is not None}
        device = latest[0]["device_id"] if latest else "?"
        result.latest.append((site, device, values.get("temperature_c", float("nan")),
                              values.get("humidity_pct", float("nan"))))  # fmt: skip
    end = time.time() + 60
    series = api.get(
        f"/v1/tenants/{TENANT}/sites/{FLEET[0][1]}/readings/series?metric=temperature_c"
        f"&start={_iso(end - 3600)}&end={_iso(end)}"
    )
    points = series.get("points", series) if isinstance(series, dict) else series
    result.series_points = len(points)


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_demo(
    duration: float,
    *,
    interval: float,
    say: Say,
    keep: Path | None = None,
    on_done: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    """Walk through every capability; ``on_done(result)`` runs while the services, API and
    console are still up (``channeltrace demo --serve`` waits there)."""
    from cloud.migrate import migrate

    result = DemoResult()
    workdir = keep or Path(tempfile.mkdtemp(prefix="channeltrace-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)  # the servers run as their own users and must enter it
    with ExitStack() as stack:
        if keep is None:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        with _step("services"):
            services = stack.enter_context(_services(stack, workdir, say))
            applied = migrate(services.database_url)
            say(f"schema: {len(applied)} migration(s) applied")
        from channeltrace.demo_channel import load_channel

        with _step("channel"):
            channel_section, _ = load_channel(services.database_url, say)
            result.sections.append(channel_section)
        with _step("streaming"):
            _stream(stack, services, workdir, duration, interval, result, say)
        with _step("attacker"):
            _attack(services, workdir, result, say)
        from channeltrace.demo_api import serve_api

        with _step("read API"):
            api = stack.enter_context(serve_api(services.database_url))
            _read_api(result, api)
        from channeltrace.demo_provenance import run_provenance

        with _step("provenance"):
            result.sections += run_provenance(
                services.database_url, services.chain_url, api, workdir, say
            )
        from channeltrace.demo_alerts import run_alerts

        with _step("alerts"):
            result.sections += run_alerts(services.database_url, say)
        from channeltrace.demo_console import run_console

        with _step("console"):
            result.sections += run_console(services.database_url, api.base_url, say)
        from channeltrace.demo_access import run_access

        with _step("access control"):
            result.sections += run_access(services.database_url, api, workdir, say)
        if on_done is not None:
            on_done(result)
    return result

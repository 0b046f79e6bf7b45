"""``channeltrace cloud ...``: schema, device registry and ingest."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from cloud.auth.cli import apikeys_app, users_app
from cloud.broker.cli import broker_app
from cloud.channel_cli import channel_app, tenants_app
from cloud.config_cli import config_app
from cloud.keys_cli import keys_app
from cloud.prefixes_cli import prefixes_app
from cloud.scheduler_cli import scheduler_command
from common.cli import DatabaseUrl, Verbose, fail, setup_logging, stop_on_signals

__all__ = ["cloud_app"]

cloud_app = typer.Typer(help="Cloud services: schema, registry, ingest.", no_args_is_help=True)



def _database_url(option: str | None) -> str:
    from cloud.settings import get_settings

    return option or get_settings().database_url


@cloud_app.command("migrate")
def cloud_migrate(
    database_url: DatabaseUrl = None,
    backend: Annotated[
        str,
        typer.Option(
            help="Storage for a new schema: auto (TimescaleDB when the server preloads it),"
            " postgresql or timescaledb. An existing schema keeps its backend.",
        ),
    ] = "auto",
    verbose: Verbose = False,
) -> None:
    """Create or upgrade the database schema (idempotent); says which storage backend and why."""
    setup_logging(verbose)
    from cloud.errors import MigrationError
    from cloud.migrate import apply_migrations
    from cloud.storage.selection import BackendRequest

    requests: dict[str, BackendRequest] = {
        "auto": "auto", "postgresql": "postgresql", "timescaledb": "timescaledb"
    }  # fmt: skip
    if backend not in requests:
        raise fail(f"--backend: expected auto, postgresql or timescaledb, got {backend!r}")
    try:
        result = apply_migrations(_database_url(database_url), backend=requests[backend])
    except MigrationError as exc:
        raise fail(str(exc)) from None
    typer.echo(result.storage.describe())
    if result.applied:
        for m in result.applied:
            typer.echo(f"applied {m.version:04d}_{m.name}")
    else:
        typer.echo("schema is up to date")


@cloud_app.command("register")
def cloud_register(
    registrations: Annotated[list[Path], typer.Argument(help="registration.json files.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Register devices (the files ``channeltrace edge provision`` wrote)."""
    import psycopg
    from pydantic import ValidationError

    from cloud.errors import RegistryError
    from cloud.registry import DeviceRegistration, register_device

    try:
        with psycopg.connect(_database_url(database_url)) as conn:
            for path in registrations:
                try:
                    reg = DeviceRegistration.model_validate_json(path.read_bytes())
                    register_device(conn, reg)
                except (OSError, ValidationError, RegistryError) as exc:
                    raise fail(f"{path}: {exc}") from None
                typer.echo(f"registered {reg.device_id} at {reg.tenant}/{reg.site}")
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database: {exc}") from None


@cloud_app.command("ingest")
def cloud_ingest(
    database_url: DatabaseUrl = None,
    mqtt_url: Annotated[
        list[str] | None,
        typer.Option(
            help="Broker; repeat it to consume from several brokers at once (default:"
            " CT_INGEST_MQTT_URLS, else CT_MQTT_URL)."
        ),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client id; unique per worker, stable across restarts.")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on PORT (default: CT_METRICS_PORT)."),
    ] = None,
    receipt_key_file: Annotated[
        Path | None,
        typer.Option(
            "--receipt-key-file",
            envvar="CT_RECEIPT_KEY_FILE",
            help="The cloud key (PEM, from `cloud config keygen`) that signs storage receipts"
            " and backfill requests; agents trust its public half ([cloud] config_public_key).",
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Consume device messages into PostgreSQL: verified, exactly once, ack after commit.

    Run several with distinct --client-id values: they share the stream (MQTT 5 shared
    subscription). With the cloud key each device gets signed storage receipts. At exit one
    JSON line reports what this worker stored.
    """
    setup_logging(verbose)
    from cloud.cli_metrics import serve_metrics_or_exit
    from cloud.errors import IncompatibleLibrary

    try:
        from cloud.ingest.brokers import broker_client_id, run_workers
        from cloud.ingest.worker import IngestOptions, IngestWorker
    except IncompatibleLibrary as exc:
        raise fail(str(exc)) from None
    from cloud.metrics import IngestMetrics
    from cloud.settings import get_settings
    from wire import WireError, load_private_key
    from wire.broker import parse_mqtt_url

    try:
        receipt_key = load_private_key(receipt_key_file) if receipt_key_file else None
    except WireError as exc:
        raise fail(f"--receipt-key-file: {exc}") from None
    settings = get_settings()
    brokers = list(mqtt_url or settings.ingest_mqtt_urls or [settings.mqtt_url])
    try:
        for url in brokers:
            parse_mqtt_url(url)
    except ValueError as exc:
        raise fail(f"--mqtt-url: {exc}") from None
    metrics = IngestMetrics.create()
    serve_metrics_or_exit(
        metrics.registry, metrics_port or settings.metrics_port, settings.metrics_host
    )
    base_id = client_id or settings.ingest_client_id or f"ct-ingest-{socket.gethostname()}"
    workers = [
        IngestWorker(
            IngestOptions(
                database_url=database_url or settings.database_url,
                mqtt_url=url,
                client_id=broker_client_id(base_id, url, len(brokers)),
                share_group=settings.ingest_share_group,
                batch_messages=settings.ingest_batch_messages,
                batch_seconds=settings.ingest_batch_seconds,
                receive_maximum=settings.ingest_receive_maximum,
                skew_flag_seconds=settings.clock_skew_flag_seconds,
                max_future_seconds=settings.ingest_max_future_seconds,
                verify_threads=settings.ingest_verify_threads,
                receipt_key=receipt_key,
            ),
            metrics,
        )
        for url in brokers
    ]
    run_workers(workers, stop_on_signals(), metrics)
    for worker in workers:
        stats = {"ingest": "stopped", "client_id": worker.options.client_id,
                 **asdict(worker.stats)}  # fmt: skip
        typer.echo(json.dumps(stats))


@cloud_app.command("api")
def cloud_api(
    database_url: DatabaseUrl = None,
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: CT_API_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: CT_API_PORT, 8000).")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on PORT (default: CT_METRICS_PORT)."),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Serve the read API (OpenAPI at /docs and /openapi.json); metrics on their own port."""
    setup_logging(verbose)
    import uvicorn
    from pydantic import ValidationError

    from cloud.api.metrics import ApiMetrics
    from cloud.api.serve import uvicorn_config
    from cloud.app import create_app
    from cloud.auth.errors import AuthConfigError
    from cloud.cli_metrics import serve_metrics_or_exit
    from cloud.settings import get_settings, settings_problems

    try:
        settings = get_settings()
    except ValidationError as exc:
        raise fail(settings_problems(exc)) from None
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    metrics_at = metrics_port or settings.metrics_port
    metrics = ApiMetrics.create() if metrics_at is not None else None
    try:
        app = create_app(settings, metrics)
    except AuthConfigError as exc:
        raise fail(str(exc)) from None
    if metrics is not None:
        serve_metrics_or_exit(metrics.registry, metrics_at, settings.metrics_host)
    config = uvicorn_config(
        app, settings, host=host or settings.api_host, port=port or settings.api_port,
        log_config=None,
    )  # fmt: skip
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise fail("the API did not start (the reason is logged above)")


cloud_app.add_typer(config_app, name="config")
cloud_app.add_typer(users_app, name="users")
cloud_app.add_typer(apikeys_app, name="apikeys")
cloud_app.add_typer(keys_app, name="keys")
cloud_app.add_typer(prefixes_app, name="prefixes")
cloud_app.add_typer(broker_app, name="broker")
cloud_app.add_typer(channel_app, name="channel")
cloud_app.add_typer(tenants_app, name="tenants")
cloud_app.command("scheduler")(scheduler_command)

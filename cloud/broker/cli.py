"""``channeltrace cloud broker ...``: MQTT credentials and Mosquitto's files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from common.cli import DatabaseUrl, fail

__all__ = ["broker_app"]

broker_app = typer.Typer(
    help="MQTT broker credentials, password and ACL files.", no_args_is_help=True
)



def _connect(database_url: str | None) -> Any:
    import psycopg

    from cloud.settings import get_settings

    try:
        return psycopg.connect(database_url or get_settings().database_url, autocommit=True)
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database: {exc}") from None


@broker_app.command("device-password")
def device_password(
    device: Annotated[str, typer.Argument(help="A registered device id.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Issue (or rotate) a device's MQTT password; print it once for the agent's mqtt URL."""
    from cloud.broker.registry import issue_device_password
    from cloud.errors import RegistryError

    with _connect(database_url) as conn:
        try:
            typer.echo(issue_device_password(conn, device))
        except RegistryError as exc:
            raise fail(str(exc)) from None


@broker_app.command("service-user")
def service_user(
    username: Annotated[str, typer.Argument(help="svc-<name>, e.g. svc-ingest.")],
    role: Annotated[str, typer.Option(help="ingest (reads ct/v1/#) or config (writes config).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Issue (or rotate) a cloud service's MQTT password; print it once."""
    from cloud.broker.registry import issue_service_password
    from cloud.errors import RegistryError

    if role not in ("ingest", "config"):
        raise fail("--role must be ingest or config")
    with _connect(database_url) as conn:
        try:
            typer.echo(issue_service_password(conn, username, role))
        except RegistryError as exc:
            raise fail(str(exc)) from None


@broker_app.command("files")
def files(
    out: Annotated[Path, typer.Option("--out", help="Directory for passwd, acl, mosquitto.conf.")],
    cafile: Annotated[Path | None, typer.Option(help="CA certificate (PEM) for TLS.")] = None,
    certfile: Annotated[Path | None, typer.Option(help="Broker certificate (PEM).")] = None,
    keyfile: Annotated[Path | None, typer.Option(help="Broker private key (PEM).")] = None,
    tls_port: Annotated[int, typer.Option(help="TLS listener port.")] = 8883,
    plain_host: Annotated[
        str, typer.Option(help="Plain listener address for local services ('' for none).")
    ] = "127.0.0.1",
    plain_port: Annotated[int, typer.Option(help="Plain listener port.")] = 1883,
    group: Annotated[str | None, typer.Option(help="Group owning the files (mosquitto).")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write Mosquitto's password file, ACL and a config snippet from the registry."""
    from cloud.broker.files import TlsFiles
    from cloud.broker.writer import write_broker_files

    tls_paths = (cafile, certfile, keyfile)
    if any(p is not None for p in tls_paths) and not all(p is not None for p in tls_paths):
        raise fail("--cafile, --certfile and --keyfile go together")
    tls = None
    if cafile is not None and certfile is not None and keyfile is not None:
        tls = TlsFiles(cafile.resolve(), certfile.resolve(), keyfile.resolve())
    with _connect(database_url) as conn:
        try:
            written = write_broker_files(
                conn, out, tls=tls, tls_port=tls_port, plain_host=plain_host or None,
                plain_port=plain_port, group=group,
            )  # fmt: skip
        except (OSError, ValueError, LookupError) as exc:
            raise fail(f"cannot write the broker files: {exc}") from None
    typer.echo(
        f"wrote {written.passwd}, {written.acl}, {written.conf}: {written.devices} devices, "
        f"{written.services} services (send the broker SIGHUP to reload)"
    )

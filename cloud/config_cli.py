"""``channeltrace cloud config ...``: the cloud's config key, and pushing config to devices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from common.cli import DatabaseUrl, Verbose, fail, setup_logging

__all__ = ["config_app"]

config_app = typer.Typer(help="Remote device configuration.", no_args_is_help=True)

KeyFile = Annotated[
    Path,
    typer.Option(
        "--key-file", envvar="CT_CONFIG_KEY_FILE", help="The cloud's config signing key (PEM)."
    ),
]
MqttUrl = Annotated[str | None, typer.Option("--mqtt-url", help="Broker (default: CT_MQTT_URL).")]


@config_app.command("keygen")
def config_keygen(key_file: KeyFile) -> None:
    """Create the config signing key; print the public key agents need in [cloud]."""
    from wire import WireError, format_public_key, generate_private_key, write_private_key

    key = generate_private_key()
    try:
        write_private_key(key, key_file)
    except FileExistsError:
        raise fail(f"{key_file} already exists; refusing to replace a signing key") from None
    except (OSError, WireError) as exc:
        raise fail(f"cannot write {key_file}: {exc}") from None
    typer.echo(f"wrote {key_file} (private, mode 0600); put this in each agent's config:")
    typer.echo("[cloud]")
    typer.echo(f'config_public_key = "{format_public_key(key)}"')


@config_app.command("push")
def config_push(
    device: Annotated[str, typer.Option(help="Device id to configure.")],
    file: Annotated[Path, typer.Option("--file", help="JSON config document.")],
    key_file: KeyFile,
    revision: Annotated[int | None, typer.Option(help="Revision (default: next).")] = None,
    database_url: DatabaseUrl = None,
    mqtt_url: MqttUrl = None,
    verbose: Verbose = False,
) -> None:
    """Sign and publish (retained) a new config revision for a device."""
    setup_logging(verbose)
    import getpass

    import psycopg

    from cloud.device_config import mqtt_publisher, push_config
    from cloud.errors import DeviceConfigError
    from cloud.settings import get_settings
    from wire import WireError, load_private_key

    settings = get_settings()
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise fail(f"{file} must hold a JSON object")
        key = load_private_key(key_file)
        with psycopg.connect(database_url or settings.database_url) as conn:
            pushed = push_config(
                conn,
                mqtt_publisher(mqtt_url or settings.mqtt_url),
                key,
                device,
                document,
                revision=revision,
                published_by=getpass.getuser(),
            )
    except (OSError, json.JSONDecodeError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    except (DeviceConfigError, WireError) as exc:
        raise fail(str(exc)) from None
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database: {exc}") from None
    typer.echo(json.dumps({"device": pushed.device_id, "revision": pushed.revision,
                           "topic": pushed.topic}))  # fmt: skip


@config_app.command("show")
def config_show(
    device: Annotated[str, typer.Option(help="Device id.")],
    database_url: DatabaseUrl = None,
) -> None:
    """The latest revision pushed and what the device last reported about its config."""
    import psycopg

    from cloud.settings import get_settings

    try:
        with psycopg.connect(database_url or get_settings().database_url) as conn:
            pushed = conn.execute(
                "SELECT revision, payload, published_at FROM device_configs"
                " WHERE device_id = %s ORDER BY revision DESC LIMIT 1",
                (device,),
            ).fetchone()
            state = conn.execute(
                "SELECT last_state -> 'config' FROM devices WHERE id = %s", (device,)
            ).fetchone()
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database: {exc}") from None
    if state is None:
        raise fail(f"device {device!r} is not registered")
    typer.echo(json.dumps({
        "device": device,
        "pushed": None if pushed is None else {
            "revision": pushed[0], "payload": pushed[1], "published_at": pushed[2].isoformat()
        },
        "reported": state[0],
    }, indent=2))  # fmt: skip

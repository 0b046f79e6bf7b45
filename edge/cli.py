"""``channeltrace edge ...``: commands run on a warehouse gateway.

Only typer is imported at module level: the gateway has the ``edge`` extra only.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from common.cli import Verbose, fail, setup_logging, stop_on_signals

__all__ = ["edge_app"]

edge_app = typer.Typer(help="Edge agent on a warehouse gateway.", no_args_is_help=True)


class Sensor(StrEnum):
    """The probe a gateway reads (``--sensor``)."""

    SIM = "sim"
    DS18B20 = "ds18b20"
    SHT3X = "sht3x"
    BME280 = "bme280"


@edge_app.command("provision")
def edge_provision(
    device: Annotated[str, typer.Option(help="Device id, unique across the fleet.")],
    tenant: Annotated[str, typer.Option(help="Brand (tenant) id.")],
    site: Annotated[str, typer.Option(help="Warehouse (site) id.")],
    sensor: Annotated[
        Sensor,
        typer.Option(
            help="The probe this gateway reads: ds18b20 (1-Wire), sht3x or bme280 (I²C), or "
            "sim (a simulated probe, for trials). Required: a real gateway never gets the "
            "simulator by default.",
            case_sensitive=False,
        ),
    ],
    directory: Annotated[Path, typer.Option("--dir", help="Where to write key and config.")] = Path(
        "."
    ),
    broker: Annotated[str, typer.Option(help="Broker URL.")] = "mqtt://127.0.0.1:1883",
    profile: Annotated[
        str | None,
        typer.Option(help="Storage profile of the simulated probe (--sensor sim; default wine)."),
    ] = None,
    w1_device: Annotated[
        str | None,
        typer.Option(
            "--w1-device",
            help="DS18B20 ROM id as the kernel names it (28-...); default: the only probe "
            "on the 1-Wire bus.",
        ),
    ] = None,
    i2c_bus: Annotated[
        int | None, typer.Option(help="I²C bus of an sht3x or bme280 (/dev/i2c-N; default 1).")
    ] = None,
    i2c_address: Annotated[
        str | None,
        typer.Option(help="I²C address, e.g. 0x45 (default 0x44 for sht3x, 0x76 for bme280)."),
    ] = None,
) -> None:
    """Create the device key pair and config; print what the cloud must register."""
    from edge.errors import EdgeError
    from edge.provision import SensorChoice, provision
    from wire import WireError

    try:
        address = None if i2c_address is None else int(i2c_address, 0)
    except ValueError:
        raise fail(f"--i2c-address: expected a number such as 0x44, got {i2c_address!r}") from None
    try:
        choice = SensorChoice(
            sensor.value,
            profile=profile, w1_device=w1_device, i2c_bus=i2c_bus, i2c_address=address,
        )  # fmt: skip
        result = provision(
            directory, device=device, tenant=tenant, site=site, broker_url=broker, sensor=choice
        )
    except (EdgeError, WireError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {result.key_path} (private key, mode 0600)")
    typer.echo(f"wrote {result.config_path} (mode 0600: the broker URL may hold a password)")
    if choice.simulated_probe:
        typer.echo("  it reads a SIMULATED probe: for trials only, not a warehouse's climate")
    typer.echo(f"wrote {result.registration_path} — register it with:")
    typer.echo(f"  channeltrace cloud register {result.registration_path}")
    typer.echo(json.dumps(result.registration, indent=2))


@edge_app.command("run")
def edge_run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Agent TOML config file.")],
    samples: Annotated[int | None, typer.Option(help="Stop after this many samples.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    drain: Annotated[
        float,
        typer.Option(help="After a bounded run, keep delivering the backlog this many seconds."),
    ] = 10.0,
    verbose: Verbose = False,
) -> None:
    """Run the agent: sample sensors, keep readings durable, publish signed batches."""
    setup_logging(verbose)
    from edge.errors import EdgeError
    from edge.runner import run_agent
    from wire.errors import WireError

    try:
        summary = run_agent(
            config, stop_on_signals(), samples=samples, duration_s=duration, drain_s=drain
        )
    except (EdgeError, WireError) as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps({"agent": "stopped", **asdict(summary)}))


@edge_app.command("status")
def edge_status(
    config: Annotated[Path, typer.Option("--config", "-c", help="Agent TOML config file.")],
) -> None:
    """Outbox counters, applied config revision and active alarms, as JSON.

    Safe while the agent runs, and exact after a crash: the counters commit with the data.
    """
    from edge.errors import EdgeError
    from edge.runner import agent_status

    try:
        status = agent_status(config)
    except EdgeError as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(asdict(status)))

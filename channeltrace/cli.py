"""The ``channeltrace`` command line: one entry point, subcommands per deployable.

Each package owns its subcommands (``edge/cli.py``, ``cloud/cli.py``); those modules import
only typer at module level, so ``channeltrace edge ...`` works on a gateway that has
only the ``edge`` extra installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from channeltrace.demo_fleet import FLEET
from cloud.cli import cloud_app
from cloud.codes_cli import codes_app
from common.cli import Verbose, fail, setup_logging, stop_on_signals
from edge.cli import edge_app
from firmware_sim.cli import sim_app
from ledger.service.cli import ledger_app

if TYPE_CHECKING:
    from channeltrace.demo import DemoResult

__all__ = ["app", "main"]

app = typer.Typer(
    help="ChannelTrace: live channel stock, storage conditions and provenance.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"channeltrace {version('channeltrace')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            typer.echo("channeltrace (not installed: no version metadata)")
        raise typer.Exit


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """ChannelTrace: live channel stock, storage conditions and provenance."""


app.add_typer(edge_app, name="edge")
app.add_typer(cloud_app, name="cloud")
app.add_typer(codes_app, name="codes")
app.add_typer(sim_app, name="sim")
app.add_typer(ledger_app, name="ledger")


@app.command("demo")
def demo(
    duration: Annotated[float, typer.Option(help="Seconds the agents sample for.")] = 20.0,
    interval: Annotated[float, typer.Option(help="Seconds between samples per gateway.")] = 0.05,
    keep: Annotated[
        Path | None, typer.Option(help="Keep keys, configs and data in this directory.")
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(help="Afterwards keep the API and console up until Ctrl-C, to look around."),
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Run the whole system on embedded defaults and show what was sent and stored."""
    setup_logging(verbose, quiet=True)
    from channeltrace.demo import run_demo

    def report(result: DemoResult) -> None:
        _print_result(result)
        if serve:
            typer.echo("")
            typer.echo("API and console stay up (URLs above); Ctrl-C stops everything.")
            stop_on_signals().wait()

    from channeltrace.errors import DemoStepFailed

    try:
        result = run_demo(duration, interval=interval, say=typer.echo, keep=keep, on_done=report)
    except DemoStepFailed as exc:
        raise fail(str(exc)) from None
    lost = result.readings_taken - result.readings_stored
    if lost != 0:
        raise fail(f"{lost} readings were not stored")


def _print_result(result: DemoResult) -> None:
    echo = typer.echo
    echo("")
    echo("== Latest conditions per warehouse (read API)")
    for site, device, temperature, humidity in result.latest:
        echo(f"  {site:14s} {device:10s} {temperature:6.2f} °C  {humidity:5.1f} %RH")
    echo(
        "  devices after the agents stopped: "
        + ", ".join(f"{d} {state}" for d, state in result.devices)
    )
    echo(f"  1-hour temperature series of {FLEET[0][1]}: {result.series_points} points")
    echo("== Delivery")
    echo(f"  readings taken by the agents   {result.readings_taken}")
    echo(f"  readings stored in PostgreSQL  {result.readings_stored}")
    echo(f"  redeliveries absorbed          {result.duplicates}")
    lost = result.readings_taken - (result.readings_stored - result.duplicated_rows)
    echo(f"  lost                           {lost}")
    echo(f"  duplicated                     {result.duplicated_rows}")
    if result.outage_s:
        echo(f"  (including a broker outage of {result.outage_s:.1f} s)")
    ack = result.config_ack
    if ack:
        outcome = "applied" if ack.get("applied") else f"refused: {ack.get('reason')}"
        echo(f"  remote config: {FLEET[1][0]} reports revision {ack.get('revision')} {outcome}")
    echo("== Refused messages (dead letters, kept with their raw bytes)")
    for reason, count in sorted(result.dead_letters.items()):
        echo(f"  {reason:15s} {count}")
    for title, lines in result.sections:
        echo(f"== {title}")
        for line in lines:
            echo(f"  {line}")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    from pydantic import ValidationError

    from cloud.settings import settings_problems

    try:
        app()
    except ValidationError as exc:  # CT_* settings a command loaded: one line, no traceback
        typer.secho(f"error: {settings_problems(exc)}", fg=typer.colors.RED, err=True)
        sys.exit(2)

"""``python -m edge`` (console script ``channeltrace-edge``): the agent's lean entry point.

Same commands, options and output as ``channeltrace edge run`` and ``channeltrace edge
status``, but without the full command line: typer, rich and the cloud, ledger and
simulator command modules cost ~3 MB of the gateway's 40 MB budget. The systemd unit in
deploy/edge runs this one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path

__all__ = ["main"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("channeltrace")
    except PackageNotFoundError:  # a source tree that was never installed
        return "(not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="channeltrace-edge", description="ChannelTrace edge agent on a warehouse gateway."
    )
    parser.add_argument("--version", action="version", version=f"channeltrace-edge {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="Sample sensors, keep readings durable, publish signed batches."
    )
    run.add_argument("--config", "-c", type=Path, required=True, help="Agent TOML config file.")
    run.add_argument("--samples", type=int, default=None, help="Stop after this many samples.")
    run.add_argument("--duration", type=float, default=None, help="Stop after this many seconds.")
    run.add_argument(
        "--drain",
        type=float,
        default=10.0,
        help="After a bounded run, keep delivering the backlog this many seconds.",
    )
    run.add_argument("--verbose", "-v", action="store_true", help="Log debug details.")
    status = commands.add_parser("status", help="Outbox counters, config revision, alarms.")
    status.add_argument("--config", "-c", type=Path, required=True, help="Agent TOML config file.")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    args = _parser().parse_args(argv)
    from edge.errors import EdgeError
    from wire.errors import WireError

    try:
        if args.command == "run":
            logging.basicConfig(
                level=logging.DEBUG if args.verbose else logging.INFO,
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                stream=sys.stderr,
            )
            from common.signals import stop_on_signals
            from edge.runner import run_agent

            summary = run_agent(
                args.config,
                stop_on_signals(),
                samples=args.samples,
                duration_s=args.duration,
                drain_s=args.drain,
            )
            print(json.dumps({"agent": "stopped", **asdict(summary)}), flush=True)
        else:
            from edge.runner import agent_status

            print(json.dumps(asdict(agent_status(args.config))), flush=True)
    except (EdgeError, WireError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

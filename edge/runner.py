"""What ``edge run`` and ``edge status`` do, shared by both entry points (edge/cli.py for
``channeltrace edge``, edge/__main__.py for the lean ``channeltrace-edge``)."""

from __future__ import annotations

import threading
from pathlib import Path

from edge.agent import Agent, AgentSummary, link_path, state_paths
from edge.config import load_config
from edge.status import AgentStatus, read_status

__all__ = ["agent_status", "run_agent"]


def run_agent(
    config_path: Path,
    stop: threading.Event,
    *,
    samples: int | None = None,
    duration_s: float | None = None,
    drain_s: float = 10.0,
) -> AgentSummary:
    """Run the agent until ``stop`` or a bound; `EdgeError`/`WireError` if it cannot start."""
    agent = Agent(load_config(config_path))
    return agent.run(stop, max_samples=samples, duration_s=duration_s, drain_s=drain_s)


def agent_status(config_path: Path) -> AgentStatus:
    """The durable counters, config revision, alarms and the broker connection; safe while
    the agent runs."""
    config = load_config(config_path)
    return read_status(
        config.resolve(config.outbox.path), *state_paths(config), link=link_path(config)
    )

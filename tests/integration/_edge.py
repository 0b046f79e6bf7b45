"""Helpers for the edge acceptance tests: provision real agents, read what they and the
database say. Everything runs as real processes against real services."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg

from tests.integration.processes import Background, channeltrace

__all__ = [
    "Agents",
    "agent_status",
    "cloud_key",
    "count",
    "ingest_worker",
    "provision_agent",
    "query",
    "start_agent",
]


def cloud_key(directory: Path) -> Path:
    """A cloud key file (what ``cloud config keygen`` writes): receipts are signed with it
    and agents trust its public half."""
    path = directory / "cloud-key.pem"
    if not path.exists():
        channeltrace(["cloud", "config", "keygen", "--key-file", str(path)])
    return path


def _cloud_section(key_file: Path) -> str:
    from wire import format_public_key, load_private_key

    public = format_public_key(load_private_key(key_file))
    return f'\n[cloud]\nconfig_public_key = "{public}"\n'


def provision_agent(
    tmp_path: Path,
    broker_url: str,
    database_url: str,
    device: str,
    *,
    interval_s: float,
    batch: int = 50,
    budget_mb: float = 64,
    extra: str = "",
    key_file: Path | None = None,
) -> Path:
    """Provision and register an agent; with ``key_file`` it trusts that cloud key (storage
    receipts), without it it frees its outbox on the broker's PUBACK."""
    directory = tmp_path / device
    channeltrace(
        [
            "edge",
            "provision",
            "--device",
            device,
            "--tenant",
            "acme",
            "--site",
            "wh-sh-01",
            "--sensor",
            "sim",
            "--broker",
            broker_url,
            "--dir",
            str(directory),
        ]
    )
    config = directory / "agent.toml"
    text = config.read_text()
    for old, new in (
        ("interval_s = 1.0", f"interval_s = {interval_s}"),
        ("batch_max_readings = 500", f"batch_max_readings = {batch}"),
        ("budget_mb = 64", f"budget_mb = {budget_mb}"),
        ("heartbeat_interval_s = 30", "heartbeat_interval_s = 1"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text + (_cloud_section(key_file) if key_file else "") + extra)
    channeltrace(
        ["cloud", "register", str(directory / "registration.json"), "--database-url", database_url]
    )
    return config


class Agents:
    """Agent processes started by a test; whatever is still running at the end is killed."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._started: list[Background] = []

    def start(self, config: Path) -> Background:
        agent = start_agent(config, self._tmp_path)
        self._started.append(agent)
        return agent

    def close(self) -> None:
        for agent in self._started:
            if agent.process.poll() is None:
                agent.kill()


def start_agent(config: Path, tmp_path: Path) -> Background:
    return Background(
        ["edge", "run", "--config", str(config)], log=tmp_path / f"{config.parent.name}.log"
    )


def agent_status(config: Path) -> dict[str, Any]:
    result = channeltrace(["edge", "status", "--config", str(config)])
    status: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return status


def ingest_worker(
    broker_url: str,
    database_url: str,
    tmp_path: Path,
    *,
    client_id: str | None = None,
    share_group: str | None = None,
    key_file: Path | None = None,
) -> Background:
    """A real ``cloud ingest`` process; the same client id and group resume its session.
    With ``key_file`` it sends signed storage receipts."""
    channeltrace(["cloud", "migrate", "--database-url", database_url])
    receipts = ["--receipt-key-file", str(key_file)] if key_file else []
    worker = Background(
        [
            "cloud",
            "ingest",
            "--database-url",
            database_url,
            "--mqtt-url",
            broker_url,
            "--client-id",
            client_id or f"ingest-{uuid.uuid4().hex[:8]}",
            *receipts,
        ],
        env={"CT_INGEST_SHARE_GROUP": share_group or f"g{uuid.uuid4().hex[:8]}"},
        log=tmp_path / "ingest.log",
    )
    worker.wait_for_line("ingest ready")
    return worker


def query(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return [tuple(r) for r in conn.execute(sql.encode(), params).fetchall()]


def count(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> int:
    return int(query(database_url, sql, params)[0][0])

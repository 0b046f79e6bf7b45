"""What an agent's data directory says, read without disturbing a running agent.

Opens the outbox read-only (SQLite WAL lets readers run beside the writer) and the state
files, so ``channeltrace edge status`` works while the agent runs and after it was killed:
the outbox's counters are committed with the data they count.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import OutboxError
from edge.statefile import read_state

__all__ = ["AgentStatus", "read_status"]


@dataclass(frozen=True, slots=True)
class AgentStatus:
    accepted: dict[str, int]  # items ever committed to the outbox, per kind
    pending_items: int
    pending_messages: int
    evicted_items: int
    evicted_messages: int
    next_seq: int
    config_revision: int | None
    active_alarms: list[list[Any]]


def read_status(outbox_path: Path, config_state: Path, alarms_state: Path) -> AgentStatus:
    if not outbox_path.exists():
        raise OutboxError(f"no outbox at {outbox_path}: the agent has not run here yet")
    try:
        conn = sqlite3.connect(f"{outbox_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            items, messages = conn.execute(
                "SELECT (SELECT COUNT(*) FROM items), (SELECT COUNT(*) FROM messages)"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise OutboxError(f"cannot read outbox {outbox_path}: {exc}") from None
    revision = read_state(config_state).get("revision")
    return AgentStatus(
        accepted={
            k.removeprefix("added_"): int(v) for k, v in meta.items() if k.startswith("added_")
        },
        pending_items=int(items),
        pending_messages=int(messages),
        evicted_items=int(meta.get("evicted_items", 0)),
        evicted_messages=int(meta.get("evicted_messages", 0)),
        next_seq=int(meta.get("next_seq", 1)),
        config_revision=revision if isinstance(revision, int) else None,
        active_alarms=list(read_state(alarms_state).get("active", [])),
    )

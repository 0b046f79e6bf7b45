"""What an agent's data directory says, read without disturbing a running agent.

Opens the outbox read-only (SQLite WAL lets readers run beside the writer) and the state
files, so ``channeltrace edge status`` works while the agent runs and after it was killed:
the outbox's counters are committed with the data they count. The running agent also keeps
``link.json`` (its broker connection, rewritten every second; advisory, not fsynced): from it
and the outbox, status tells the connection state, the age of the oldest reading not yet
accepted by the broker (unsent) and of the oldest not yet receipted by the cloud.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import OutboxError
from edge.statefile import read_state

__all__ = ["AgentStatus", "read_status", "write_link"]


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
    # "connected", "connecting", "disconnected", "refused" (CONNACK), "not running"
    connection: str = "not running"
    connection_since: str | None = None
    broker: str | None = None
    last_error: str | None = None
    delivery: str | None = None  # "receipts" or "puback", from the running agent
    oldest_unsent_age_s: float | None = None  # not yet accepted by the broker
    receipt_lag_s: float | None = None  # oldest reading not yet receipted (receipts only)


def write_link(path: Path, state: dict[str, Any]) -> None:
    """Replace ``path`` with the agent's link state (atomically; no fsync: it is advisory
    and rewritten every second, so a power cut may only lose the last second)."""
    document = {**state, "pid": os.getpid(), "updated_at": time.time()}
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise OutboxError(f"cannot write {path}: {exc.strerror}") from None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def read_status(
    outbox_path: Path, config_state: Path, alarms_state: Path, link: Path | None = None
) -> AgentStatus:
    if not outbox_path.exists():
        raise OutboxError(f"no outbox at {outbox_path}: the agent has not run here yet")
    state = read_state(link) if link is not None else {}
    running = _alive(state.get("pid"))
    unsent_from = state.get("unsent_from_seq") if running else None
    if not isinstance(unsent_from, int):
        unsent_from = 0  # nothing is being sent: every sealed message is unsent
    try:
        conn = sqlite3.connect(f"{outbox_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            items, messages, oldest_item, oldest_message, oldest_unsent = conn.execute(
                "SELECT (SELECT COUNT(*) FROM items), (SELECT COUNT(*) FROM messages),"
                " (SELECT added_at FROM items ORDER BY id LIMIT 1),"
                " (SELECT MIN(created_at) FROM messages),"
                " (SELECT MIN(created_at) FROM messages WHERE seq >= ?)",
                (unsent_from,),
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise OutboxError(f"cannot read outbox {outbox_path}: {exc}") from None
    now = time.time()

    def age(*stamps: float | None) -> float | None:
        known = [t for t in stamps if t is not None]
        return round(max(0.0, now - min(known)), 3) if known else None

    revision = read_state(config_state).get("revision")
    delivery = state.get("delivery") if isinstance(state.get("delivery"), str) else None
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
        connection=str(state.get("state", "unknown")) if running else "not running",
        connection_since=_text(state.get("since")) if running else None,
        broker=_text(state.get("broker")),
        last_error=_text(state.get("last_error")),
        delivery=delivery,
        oldest_unsent_age_s=age(oldest_item, oldest_unsent),
        # Receipts free what the cloud stored, so everything held waits for one.
        receipt_lag_s=age(oldest_item, oldest_message) if delivery != "puback" else None,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None

"""Ingest: MQTT -> verify -> exactly-once rows in PostgreSQL -> acknowledge."""

from cloud.ingest.prepare import Accepted, DeadLetter, Inbound, prepare
from cloud.ingest.store import WriteResult, write_batch

__all__ = ["Accepted", "DeadLetter", "Inbound", "WriteResult", "prepare", "write_batch"]

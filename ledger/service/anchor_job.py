"""The anchor job: put the latest checkpoint on chain once, surviving crashes and RPC outages.

Protocol (one run, under a PostgreSQL advisory lock so that concurrent runs never overlap):

1. **Resume.** If a ``pending`` anchor row exists, settle it before anything else:
   if the sender's mined nonce has passed the row's nonce, that nonce is spent: the row's
   transaction was mined (receipt found: ``confirmed``, or ``failed`` if it reverted) or was
   replaced (``failed``); otherwise the transaction may never have left the process, so the
   *same signed bytes* are broadcast again (same nonce, same hash: at most one can ever be
   mined) and awaited.
2. **Decide.** Anchor the latest checkpoint if it is larger than the largest confirmed
   anchor on this chain and contract; otherwise there is nothing to do.
3. **Record, then send.** Sign with the sender's next nonce, commit a ``pending`` row with
   nonce, hash and raw bytes, then broadcast and wait for the receipt.

A crash at any point leaves either no row (nothing was sent) or a pending row that step 1
resolves; the nonce makes a second, different anchor transaction impossible while the
first is unresolved. RPC failures (:class:`~ledger.errors.ChainUnavailableError`) restart
the run after an exponential backoff with jitter (tenacity), which is safe for the same
reasons.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import psycopg
import tenacity

from ledger.errors import AnchorError, ChainUnavailableError, StoreError
from ledger.service.anchor import Anchorer, AnchorReceipt
from ledger.service.records import (
    AnchorRow,
    insert_pending_anchor,
    latest_checkpoint,
    latest_confirmed_anchor,
    pending_anchor,
    settle_anchor,
)

__all__ = ["ANCHOR_LOCK", "AnchorOutcome", "anchor_latest"]

_logger = logging.getLogger(__name__)

ANCHOR_LOCK: Final = 0x4354_4C45_4441_4E43  # "CTLEDANC": one anchor run at a time
Conn = psycopg.Connection[Any]
OutcomeStatus = Literal["anchored", "up-to-date", "empty", "pending", "busy"]


@dataclass(frozen=True, slots=True)
class AnchorOutcome:
    """What one run did. ``resumed`` says how a leftover pending anchor was settled."""

    status: OutcomeStatus
    size: int | None = None
    tx_hash: bytes | None = None
    resumed: Literal["confirmed", "failed", "pending"] | None = None


def anchor_latest(
    conn: Conn,
    anchorer: Anchorer,
    *,
    receipt_timeout: float = 120.0,
    attempts: int = 5,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> AnchorOutcome:
    """Anchor the latest checkpoint if the tree grew since the last anchor (see module doc).

    ``conn`` must be in autocommit mode: each step has to be durable before the next side
    effect on chain. Returns ``busy`` if another run holds the lock.
    """
    if not conn.autocommit:
        raise StoreError("anchor_latest needs an autocommit connection")
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (ANCHOR_LOCK,)).fetchone()[0]:  # type: ignore[index]
        _logger.info("another anchor run holds the lock; skipping")
        return AnchorOutcome("busy")
    try:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(ChainUnavailableError),
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential_jitter(multiplier=backoff, jitter=backoff / 2),
            sleep=sleep,
            before_sleep=_log_retry(attempts),
            reraise=True,
        )
        return retrying(_run, conn, anchorer, receipt_timeout)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (ANCHOR_LOCK,))


def _log_retry(attempts: int) -> Callable[[tenacity.RetryCallState], None]:
    def log(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        _logger.warning(
            "anchor attempt %d/%d: %s; retrying in %.1f s",
            state.attempt_number, attempts, error, delay,
        )  # fmt: skip

    return log


def _run(conn: Conn, anchorer: Anchorer, receipt_timeout: float) -> AnchorOutcome:
    chain_id, contract = anchorer.chain_id(), anchorer.contract_address
    resumed = None
    pending = pending_anchor(conn, chain_id, contract)
    if pending is not None:
        resumed = _resume(conn, anchorer, pending, receipt_timeout)
        if resumed == "pending":
            return AnchorOutcome("pending", pending.size, pending.tx_hash, resumed)
    checkpoint = latest_checkpoint(conn)
    if checkpoint is None:
        return AnchorOutcome("empty", resumed=resumed)
    done = latest_confirmed_anchor(conn, chain_id, contract)
    if done is not None and done.size >= checkpoint.size:
        return AnchorOutcome("up-to-date", done.size, done.tx_hash, resumed)
    signed = anchorer.sign_anchor(checkpoint.root, checkpoint.size, anchorer.confirmed_nonce())
    row = insert_pending_anchor(
        conn, signed, chain_id=chain_id, contract=contract, sender=anchorer.sender
    )
    _logger.info(
        "anchoring checkpoint %d (root %s) in tx %s nonce %d",
        checkpoint.size,
        checkpoint.root.hex(),
        signed.tx_hash.hex(),
        signed.nonce,
    )
    anchorer.broadcast(signed)
    outcome = _await(conn, anchorer, row, receipt_timeout)
    if outcome == "failed":
        raise AnchorError(f"anchor tx {signed.tx_hash.hex()} for size {signed.size} reverted")
    status: OutcomeStatus = "anchored" if outcome == "confirmed" else "pending"
    return AnchorOutcome(status, checkpoint.size, signed.tx_hash, resumed)


def _resume(
    conn: Conn, anchorer: Anchorer, row: AnchorRow, receipt_timeout: float
) -> Literal["confirmed", "failed", "pending"]:
    _logger.info("resuming pending anchor %d (size %d, nonce %d)", row.id, row.size, row.nonce)
    if anchorer.confirmed_nonce() > row.nonce:  # the nonce is spent: look, never resend
        receipt = anchorer.receipt(row.tx_hash)
        if receipt is not None:
            return _settle(conn, row, receipt)
        found = [a for a in anchorer.find_anchors(row.root) if a.size == row.size]
        if found:  # anchored by another transaction of ours (e.g. a fee bump)
            settle_anchor(
                conn,
                row.id,
                "confirmed",
                tx_hash=found[0].tx_hash,
                block_number=found[0].block_number,
            )
            return "confirmed"
        settle_anchor(conn, row.id, "failed", error=f"nonce {row.nonce} used by another tx")
        _logger.warning("pending anchor %d was replaced on chain; will anchor again", row.id)
        return "failed"
    from ledger.service.anchor import SignedAnchor

    anchorer.broadcast(SignedAnchor(row.root, row.size, row.nonce, row.tx_hash, row.raw_tx))
    return _await(conn, anchorer, row, receipt_timeout)


def _await(
    conn: Conn, anchorer: Anchorer, row: AnchorRow, timeout: float
) -> Literal["confirmed", "failed", "pending"]:
    receipt = anchorer.wait_for_receipt(row.tx_hash, timeout)
    if receipt is None:
        _logger.warning(
            "anchor tx %s not mined after %.0f s; still pending", row.tx_hash.hex(), timeout
        )
        return "pending"
    return _settle(conn, row, receipt)


def _settle(conn: Conn, row: AnchorRow, receipt: AnchorReceipt) -> Literal["confirmed", "failed"]:
    if receipt.succeeded:
        settle_anchor(
            conn, row.id, "confirmed", block_number=receipt.block_number, gas_used=receipt.gas_used
        )
        _logger.info("anchor of size %d confirmed in block %d", row.size, receipt.block_number)
        return "confirmed"
    settle_anchor(
        conn,
        row.id,
        "failed",
        block_number=receipt.block_number,
        gas_used=receipt.gas_used,
        error="transaction reverted",
    )
    return "failed"

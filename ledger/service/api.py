"""HTTP API of the ledger: checkpoints, proofs, anchor status, proof bundles.

``router`` is mounted by the cloud app; its database connection comes from the
:func:`get_conn` dependency, which the app overrides with its pool
(``app.dependency_overrides[get_conn] = ...``). Hashes are lowercase hex; checkpoint notes
are the signed C2SP text, verifiable with the log's public key.

Access: the proof routes reveal hashes only and are public (consumers verify proofs;
``/entries/{index}/proof`` is the public bundle, without the event);
the app may rate-limit them by overriding :func:`public_access`. A bundle carries the
event itself, so the app overrides :func:`bundle_access` to allow only callers who may
see that event (docs/security.md). Standalone, both allow everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query

from ledger.errors import ProofError, TreeError
from ledger.service.pg_store import PgLog
from ledger.service.publish import (
    InclusionAnswer,
    NotAnchoredError,
    build_bundle,
    build_public_bundle,
    inclusion_at_checkpoint,
)
from ledger.service.records import (
    AnchorRow,
    latest_checkpoint,
    latest_confirmed_anchor,
    recent_anchors,
)
from ledger.service.settings import get_ledger_section

__all__ = ["ConnDep", "bundle_access", "get_conn", "public_access", "router"]


def public_access() -> None:
    """Runs before every public route (the app overrides it with its rate limit)."""


router = APIRouter(prefix="/ledger", tags=["ledger"], dependencies=[Depends(public_access)])


def get_conn() -> Iterator[psycopg.Connection[Any]]:
    """One autocommit connection per request (the app overrides this with its pool)."""
    with psycopg.connect(get_ledger_section().database_url, autocommit=True) as conn:
        yield conn


ConnDep = Annotated[psycopg.Connection[Any], Depends(get_conn)]
Size = Annotated[
    int | None, Query(ge=1, description="Checkpoint size to prove against (default: latest).")
]


def _not_found(exc: Exception) -> HTTPException:
    return HTTPException(status_code=404, detail=str(exc))


def _inclusion(answer: InclusionAnswer) -> dict[str, Any]:
    return {
        "index": answer.index,
        "leaf_hash": answer.leaf_hash.hex(),
        "tree_size": answer.checkpoint.size,
        "proof": [h.hex() for h in answer.proof],
        "checkpoint": answer.checkpoint.note,
    }


def _anchor(row: AnchorRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "size": row.size,
        "root": row.root.hex(),
        "status": row.status,
        "chain_id": row.chain_id,
        "contract": row.contract,
        "tx_hash": "0x" + row.tx_hash.hex(),
        "nonce": row.nonce,
        "block_number": row.block_number,
        "gas_used": row.gas_used,
        "error": row.error,
        "created_at": row.created_at.isoformat(),
        "settled_at": None if row.settled_at is None else row.settled_at.isoformat(),
    }


@router.get("/checkpoint")
def get_latest_checkpoint(conn: ConnDep) -> dict[str, Any]:
    """The latest signed checkpoint (C2SP tlog-checkpoint note)."""
    checkpoint = latest_checkpoint(conn)
    if checkpoint is None:
        raise HTTPException(status_code=404, detail="no checkpoint has been signed yet")
    return {
        "size": checkpoint.size,
        "root": checkpoint.root.hex(),
        "note": checkpoint.note,
        "created_at": checkpoint.created_at.isoformat(),
    }


@router.get("/entries/{index}/inclusion")
def get_inclusion_by_index(index: int, conn: ConnDep, size: Size = None) -> dict[str, Any]:
    """Inclusion proof of entry ``index`` to a signed checkpoint."""
    try:
        return _inclusion(inclusion_at_checkpoint(conn, index, size))
    except TreeError as exc:
        raise _not_found(exc) from None


@router.get("/inclusion")
def get_inclusion_by_hash(
    conn: ConnDep,
    leaf_hash: Annotated[str, Query(pattern="^[0-9a-fA-F]{64}$", description="Leaf hash, hex.")],
    size: Size = None,
) -> dict[str, Any]:
    """Inclusion proof of the first entry with ``leaf_hash`` to a signed checkpoint."""
    try:
        checkpoint = latest_checkpoint(conn)
        limit = size if size is not None else (checkpoint.size if checkpoint else 0)
        index = PgLog(conn).index_of(bytes.fromhex(leaf_hash), limit)
        return _inclusion(inclusion_at_checkpoint(conn, index, size))
    except TreeError as exc:
        raise _not_found(exc) from None


@router.get("/consistency")
def get_consistency(
    conn: ConnDep,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    """Consistency proof (RFC 9162) that the tree of ``second`` extends the tree of ``first``."""
    try:
        proof = PgLog(conn).tree().consistency_proof(first, second)
    except (TreeError, ProofError) as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    return {"first": first, "second": second, "proof": [h.hex() for h in proof]}


@router.get("/anchors")
def get_anchor_status(
    conn: ConnDep, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> dict[str, Any]:
    """The latest confirmed anchor, the latest checkpoint size, and recent anchor attempts."""
    checkpoint = latest_checkpoint(conn)
    confirmed = latest_confirmed_anchor(conn)
    return {
        "checkpoint_size": None if checkpoint is None else checkpoint.size,
        "anchored_size": None if confirmed is None else confirmed.size,
        "latest": _anchor(confirmed),
        "recent": [_anchor(r) for r in recent_anchors(conn, limit)],
    }


def bundle_access(index: int) -> None:
    """May the caller read entry ``index``'s event? (The app overrides it; raise to refuse.)"""
    del index


@router.get("/entries/{index}/bundle", dependencies=[Depends(bundle_access)])
def get_bundle(index: int, conn: ConnDep) -> dict[str, Any]:
    """The proof bundle of entry ``index`` (verify with ``channeltrace ledger verify``)."""
    try:
        return build_bundle(conn, index).to_dict()
    except NotAnchoredError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except TreeError as exc:
        raise _not_found(exc) from None


@router.get("/entries/{index}/proof")
def get_public_bundle(index: int, conn: ConnDep) -> dict[str, Any]:
    """The public proof bundle of entry ``index``: the bundle without the event (hashes,
    the checkpoint and its anchor only), for anyone; ``channeltrace ledger verify``
    checks it. 409 until an anchor covers the entry."""
    try:
        return build_public_bundle(conn, index).to_dict()
    except NotAnchoredError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except TreeError as exc:
        raise _not_found(exc) from None

"""Proof bundles: everything needed to check one entry without our database.

A bundle (JSON, ``"format": "channeltrace-proof-bundle/v1"``) holds:

- ``index``, ``event`` (the RFC 8785 canonical JSON text of the event, as a string: the
  exact bytes hashed) and ``leaf_hash`` (hex). A *public* bundle has ``"event": null``: it
  proves that the entry with that leaf hash is in the anchored log without revealing the
  event (which may name other units and the brand's business), for anyone to check;
- ``inclusion``: the RFC 9162 inclusion proof (hex hashes) of the leaf in the tree of
  ``checkpoint``, the earliest *anchored* checkpoint that contains the entry;
- ``checkpoint``: that checkpoint's signed note and its ``anchor`` (chain id, contract
  address, transaction hash, block number);
- ``consistency`` (optional): a later anchored checkpoint, its anchor, and the consistency
  proof from the first checkpoint to it, so a verifier sees the entry is still in the
  newest published history.

Pure: building from PostgreSQL is :mod:`ledger.service.publish`, checking is :mod:`ledger.verify`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from ledger.errors import BundleError

__all__ = ["FORMAT", "AnchorRef", "AnchoredCheckpoint", "ConsistencyLink", "ProofBundle"]

FORMAT: Final = "channeltrace-proof-bundle/v1"


@dataclass(frozen=True, slots=True)
class AnchorRef:
    """Where a checkpoint's root was anchored."""

    chain_id: int
    contract: str
    tx_hash: bytes
    block_number: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "contract": self.contract,
            "tx_hash": "0x" + self.tx_hash.hex(),
            "block_number": self.block_number,
        }

    @classmethod
    def from_dict(cls, data: Any) -> AnchorRef:
        d = _obj(data, "anchor")
        block = d.get("block_number")
        if block is not None and not isinstance(block, int):
            raise BundleError(f"anchor.block_number must be an integer, got {block!r}")
        return cls(
            chain_id=_int(d, "chain_id", "anchor"),
            contract=_str(d, "contract", "anchor"),
            tx_hash=_hex(_str(d, "tx_hash", "anchor"), "anchor.tx_hash", 32),
            block_number=block,
        )


@dataclass(frozen=True, slots=True)
class AnchoredCheckpoint:
    note: str
    anchor: AnchorRef

    def to_dict(self) -> dict[str, Any]:
        return {"note": self.note, "anchor": self.anchor.to_dict()}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> AnchoredCheckpoint:
        d = _obj(data, where)
        return cls(_str(d, "note", where), AnchorRef.from_dict(d.get("anchor")))


@dataclass(frozen=True, slots=True)
class ConsistencyLink:
    checkpoint: AnchoredCheckpoint
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ProofBundle:
    index: int
    event: bytes | None  # None: a public bundle (the leaf hash is proven, not the event)
    leaf_hash: bytes
    inclusion_proof: tuple[bytes, ...]
    checkpoint: AnchoredCheckpoint
    consistency: ConsistencyLink | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "index": self.index,
            "event": None if self.event is None else self.event.decode("utf-8"),
            "leaf_hash": self.leaf_hash.hex(),
            "inclusion": [h.hex() for h in self.inclusion_proof],
            "checkpoint": self.checkpoint.to_dict(),
            "consistency": None
            if self.consistency is None
            else {
                "checkpoint": self.consistency.checkpoint.to_dict(),
                "proof": [h.hex() for h in self.consistency.proof],
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> ProofBundle:
        d = _obj(data, "bundle")
        if d.get("format") != FORMAT:
            raise BundleError(f"bundle format must be {FORMAT!r}, got {d.get('format')!r}")
        link = d.get("consistency")
        consistency = None
        if link is not None:
            ld = _obj(link, "consistency")
            consistency = ConsistencyLink(
                AnchoredCheckpoint.from_dict(ld.get("checkpoint"), "consistency.checkpoint"),
                _hashes(ld.get("proof"), "consistency.proof"),
            )
        return cls(
            index=_int(d, "index", "bundle"),
            event=None if d.get("event") is None else _str(d, "event", "bundle").encode("utf-8"),
            leaf_hash=_hex(_str(d, "leaf_hash", "bundle"), "leaf_hash", 32),
            inclusion_proof=_hashes(d.get("inclusion"), "inclusion"),
            checkpoint=AnchoredCheckpoint.from_dict(d.get("checkpoint"), "checkpoint"),
            consistency=consistency,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ProofBundle:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BundleError(f"bundle is not JSON: {exc}") from None
        return cls.from_dict(data)


def _obj(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BundleError(f"{where} must be a JSON object, got {type(data).__name__}")
    return data


def _int(d: dict[str, Any], key: str, where: str) -> int:
    value = d.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BundleError(f"{where}.{key} must be a non-negative integer, got {value!r}")
    return value


def _str(d: dict[str, Any], key: str, where: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise BundleError(f"{where}.{key} must be a string, got {value!r}")
    return value


def _hex(text: str, where: str, length: int) -> bytes:
    try:
        value = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise BundleError(f"{where} is not hex: {text!r}") from None
    if len(value) != length:
        raise BundleError(f"{where} must be {length} bytes, got {len(value)}")
    return value


def _hashes(data: Any, where: str) -> tuple[bytes, ...]:
    if not isinstance(data, list) or not all(isinstance(h, str) for h in data):
        raise BundleError(f"{where} must be a list of hex strings")
    return tuple(_hex(h, f"{where}[{i}]", 32) for i, h in enumerate(data))

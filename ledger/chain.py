"""What the ledger knows of the anchor chain, without talking to one.

The anchor contract (``contracts/Anchor.sol``) emits ``Anchored(bytes32 indexed root,
uint64 size)``; anyone finds the anchor of a root with ``eth_getLogs`` filtered on the
indexed root, without our database.

Two small protocols keep the chain at the edge:

- :class:`ChainReader`: what the offline verifier trusts (chain id, transaction receipts);
- :class:`Anchorer`: what the anchor job needs on top (sign with a known nonce, broadcast,
  wait, look up anchors of a root). Signing and broadcasting are separate so that the job
  can record the transaction hash and nonce *before* the transaction leaves the process.

Their web3.py implementations live in :mod:`ledger.service.anchor`; this module is pure
(dataclasses, protocols and the contract's ABI constants).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

__all__ = [
    "ANCHORED_TOPIC",
    "ANCHOR_ABI",
    "AnchorLog",
    "AnchorReceipt",
    "Anchorer",
    "ChainReader",
    "SignedAnchor",
]

# keccak256("Anchored(bytes32,uint64)"); tests check it against the compiled ABI.
ANCHORED_TOPIC: Final = bytes.fromhex(
    "41c3f410f5c8ac36bb46b1dccef0de0f964087c9e688795fa02ecfa2c20b3fe4"
)
ANCHOR_ABI: Final[list[dict[str, Any]]] = [
    {
        "type": "function",
        "name": "anchor",
        "stateMutability": "nonpayable",
        "inputs": [
            {"name": "root", "type": "bytes32", "internalType": "bytes32"},
            {"name": "size", "type": "uint64", "internalType": "uint64"},
        ],
        "outputs": [],
    },
    {
        "type": "event",
        "name": "Anchored",
        "anonymous": False,
        "inputs": [
            {"name": "root", "type": "bytes32", "indexed": True, "internalType": "bytes32"},
            {"name": "size", "type": "uint64", "indexed": False, "internalType": "uint64"},
        ],
    },
]


@dataclass(frozen=True, slots=True)
class AnchorLog:
    """One ``Anchored`` event as found on chain."""

    contract: str  # checksummed address
    root: bytes
    size: int
    tx_hash: bytes
    block_number: int


@dataclass(frozen=True, slots=True)
class AnchorReceipt:
    """A mined transaction's outcome and the ``Anchored`` events it emitted."""

    tx_hash: bytes
    succeeded: bool
    block_number: int
    gas_used: int
    logs: tuple[AnchorLog, ...]


@dataclass(frozen=True, slots=True)
class SignedAnchor:
    """A signed, not yet broadcast ``anchor(root, size)`` transaction."""

    root: bytes
    size: int
    nonce: int
    tx_hash: bytes
    raw: bytes


class ChainReader(Protocol):
    """The chain as the verifier sees it."""

    def chain_id(self) -> int: ...

    def receipt(self, tx_hash: bytes) -> AnchorReceipt | None:
        """The receipt of a mined transaction, ``None`` if unknown or not mined yet."""
        ...


class Anchorer(ChainReader, Protocol):
    """The chain as the anchor job uses it: one sender account, one contract."""

    @property
    def contract_address(self) -> str: ...

    @property
    def sender(self) -> str: ...

    def confirmed_nonce(self) -> int:
        """How many transactions of the sender are mined (the next nonce, if none pending)."""
        ...

    def sign_anchor(self, root: bytes, size: int, nonce: int) -> SignedAnchor: ...

    def broadcast(self, signed: SignedAnchor) -> None:
        """Send ``signed``; sending an already known or already mined one is not an error."""
        ...

    def wait_for_receipt(self, tx_hash: bytes, timeout: float) -> AnchorReceipt | None: ...

    def find_anchors(self, root: bytes) -> list[AnchorLog]:
        """Every ``Anchored(root, ·)`` event of the contract (``eth_getLogs``)."""
        ...

"""Anchoring checkpoints on an Ethereum-compatible chain with web3.py over JSON-RPC.

:class:`Web3Chain` and :class:`Web3Anchorer` implement the :class:`~ledger.chain.ChainReader`
and :class:`~ledger.chain.Anchorer` protocols of the pure core (:mod:`ledger.chain`, which
also holds the receipt/log dataclasses and the contract's ABI). RPC failures become
:class:`~ledger.errors.ChainUnavailableError` (retryable), everything else
:class:`~ledger.errors.AnchorError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ledger.chain import (
    ANCHOR_ABI,
    ANCHORED_TOPIC,
    Anchorer,
    AnchorLog,
    AnchorReceipt,
    ChainReader,
    SignedAnchor,
)
from ledger.errors import AnchorError, ChainUnavailableError
from ledger.hashing import HASH_SIZE

if TYPE_CHECKING:
    from web3.types import Nonce, TxParams
else:  # web3 is imported lazily; at runtime these are plain values
    Nonce = int

__all__ = [
    "ANCHORED_TOPIC",
    "ANCHOR_ABI",
    "DEFAULT_ARTIFACT",
    "AnchorLog",
    "AnchorReceipt",
    "Anchorer",
    "ChainReader",
    "SignedAnchor",
    "Web3Anchorer",
    "Web3Chain",
    "decode_anchor_logs",
    "deploy_anchor_contract",
]

_logger = logging.getLogger(__name__)

# Beside the installed packages: <purelib>/contracts/Anchor.json (the repository root here).
DEFAULT_ARTIFACT: Final = Path(__file__).resolve().parents[2] / "contracts" / "Anchor.json"


def decode_anchor_logs(logs: list[Mapping[str, Any]]) -> tuple[AnchorLog, ...]:
    """The ``Anchored`` events among raw receipt/filter logs (any contract; callers filter)."""
    from web3 import Web3

    found = []
    for log in logs:
        topics = [bytes(t) for t in log.get("topics", [])]
        data = bytes(log.get("data", b""))
        if len(topics) != 2 or topics[0] != ANCHORED_TOPIC or len(data) != 32:
            continue
        size = int.from_bytes(data, "big")
        if size >= 2**64:
            continue
        found.append(
            AnchorLog(
                contract=Web3.to_checksum_address(log["address"]),
                root=topics[1],
                size=size,
                tx_hash=bytes(log["transactionHash"]),
                block_number=int(log["blockNumber"]),
            )
        )
    return tuple(found)


@contextmanager
def _rpc(what: str) -> Iterator[None]:
    """Translate web3/requests failures into ledger errors at this boundary."""
    from web3 import exceptions as w3e

    try:
        yield
    except (
        OSError,
        w3e.ProviderConnectionError,
        w3e.RequestTimedOut,
        w3e.TooManyRequests,
        w3e.TimeExhausted,
    ) as exc:
        raise ChainUnavailableError(f"{what}: chain RPC unavailable: {exc}") from exc
    except (w3e.Web3Exception, ValueError) as exc:
        raise AnchorError(f"{what}: {exc}") from exc


class Web3Chain:
    """:class:`ChainReader` over a JSON-RPC URL."""

    def __init__(self, rpc_url: str, *, timeout: float = 10.0) -> None:
        from web3 import Web3

        self.rpc_url = rpc_url
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self._chain_id: int | None = None

    def chain_id(self) -> int:
        if self._chain_id is None:
            with _rpc("eth_chainId"):
                self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def receipt(self, tx_hash: bytes) -> AnchorReceipt | None:
        from web3.exceptions import TransactionNotFound

        with _rpc(f"receipt of {tx_hash.hex()}"):
            try:
                raw = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return None
        return _receipt(raw)


def _receipt(raw: Mapping[str, Any]) -> AnchorReceipt:
    return AnchorReceipt(
        tx_hash=bytes(raw["transactionHash"]),
        succeeded=int(raw["status"]) == 1,
        block_number=int(raw["blockNumber"]),
        gas_used=int(raw["gasUsed"]),
        logs=decode_anchor_logs(list(raw["logs"])),
    )


class Web3Anchorer(Web3Chain):
    """:class:`Anchorer` for one deployed contract, signing locally with one account.

    The account should be used by nothing else: the job picks nonces from its mined count.
    """

    def __init__(
        self,
        rpc_url: str,
        contract_address: str,
        private_key: str,
        *,
        timeout: float = 10.0,
        poll_latency: float = 0.1,
    ) -> None:
        super().__init__(rpc_url, timeout=timeout)
        from eth_account import Account

        self._account = Account.from_key(private_key)
        self._contract = self.w3.eth.contract(
            address=self.w3.to_checksum_address(contract_address), abi=ANCHOR_ABI
        )
        self._poll_latency = poll_latency

    @property
    def contract_address(self) -> str:
        return str(self._contract.address)

    @property
    def sender(self) -> str:
        return str(self._account.address)

    def confirmed_nonce(self) -> int:
        with _rpc("eth_getTransactionCount"):
            return int(self.w3.eth.get_transaction_count(self._account.address, "latest"))

    def sign_anchor(self, root: bytes, size: int, nonce: int) -> SignedAnchor:
        if len(root) != HASH_SIZE or not 0 < size < 2**64:
            raise AnchorError(f"cannot anchor root of {len(root)} bytes at size {size}")
        with _rpc("building the anchor transaction"):
            params: TxParams = {
                "from": self._account.address,
                "nonce": Nonce(nonce),
                "chainId": self.chain_id(),
                **self._fees(),  # type: ignore[typeddict-item]
            }
            tx = self._contract.functions.anchor(root, size).build_transaction(params)
            signed = self._account.sign_transaction(tx)
        return SignedAnchor(root, size, nonce, bytes(signed.hash), bytes(signed.raw_transaction))

    def _fees(self) -> dict[str, int]:
        block = self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is None:  # pre-London chain
            return {"gasPrice": int(self.w3.eth.gas_price)}
        tip = int(self.w3.eth.max_priority_fee)
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * int(base) + tip}

    def broadcast(self, signed: SignedAnchor) -> None:
        from web3.exceptions import Web3RPCError

        with _rpc(f"sending anchor tx {signed.tx_hash.hex()}"):
            try:
                self.w3.eth.send_raw_transaction(signed.raw)
            except Web3RPCError as exc:
                text = str(exc).lower()
                if "already known" in text or "already imported" in text:
                    return
                if "nonce too low" in text and self.receipt(signed.tx_hash) is not None:
                    return  # this very transaction was mined already
                raise

    def wait_for_receipt(self, tx_hash: bytes, timeout: float) -> AnchorReceipt | None:
        from web3.exceptions import TimeExhausted

        with _rpc(f"waiting for {tx_hash.hex()}"):
            try:
                raw = self.w3.eth.wait_for_transaction_receipt(
                    tx_hash,  # type: ignore[arg-type]
                    timeout=timeout,
                    poll_latency=self._poll_latency,
                )
            except TimeExhausted:
                return None
        return _receipt(raw)

    def find_anchors(self, root: bytes) -> list[AnchorLog]:
        with _rpc(f"eth_getLogs for root {root.hex()}"):
            raw = self.w3.eth.get_logs(
                {
                    "address": self._contract.address,
                    "topics": [ANCHORED_TOPIC, root],  # type: ignore[list-item]
                    "fromBlock": 0,
                    "toBlock": "latest",
                }
            )
        return list(decode_anchor_logs(list(raw)))

    def anchor(self, root: bytes, size: int, *, timeout: float = 120.0) -> AnchorReceipt:
        """Sign, send and wait: a one-shot anchor without crash safety (tools, benchmarks)."""
        signed = self.sign_anchor(root, size, self.confirmed_nonce())
        self.broadcast(signed)
        receipt = self.wait_for_receipt(signed.tx_hash, timeout)
        if receipt is None:
            raise AnchorError(f"anchor tx {signed.tx_hash.hex()} not mined within {timeout} s")
        if not receipt.succeeded:
            raise AnchorError(f"anchor tx {signed.tx_hash.hex()} reverted")
        return receipt


def deploy_anchor_contract(
    rpc_url: str,
    private_key: str,
    *,
    artifact: Path = DEFAULT_ARTIFACT,
    timeout: float = 120.0,
) -> str:
    """Deploy ``contracts/Anchor.json``'s bytecode from ``private_key``; return its address."""
    from eth_account import Account

    try:
        compiled = json.loads(artifact.read_text(encoding="utf-8"))
        bytecode = compiled["bytecode"]
    except (OSError, ValueError, KeyError) as exc:
        raise AnchorError(f"cannot read the contract artifact {artifact}: {exc}") from None
    chain = Web3Chain(rpc_url)
    account = Account.from_key(private_key)
    with _rpc("deploying the anchor contract"):
        factory = chain.w3.eth.contract(abi=compiled["abi"], bytecode=bytecode)
        tx = factory.constructor().build_transaction(
            {
                "from": account.address,
                "nonce": chain.w3.eth.get_transaction_count(account.address, "pending"),
                "chainId": chain.chain_id(),
            }
        )
        signed = account.sign_transaction(tx)
        tx_hash = chain.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if int(receipt["status"]) != 1 or receipt.get("contractAddress") is None:
        raise AnchorError(f"contract deployment {tx_hash.hex()} failed")
    address = str(receipt["contractAddress"])
    _logger.info("deployed Anchor at %s on chain %d", address, chain.chain_id())
    return address

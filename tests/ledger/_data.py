"""Test data shared by the ledger tests: where the standards live, the RFC 6962 test leaves."""

from __future__ import annotations

from pathlib import Path

# The repo's sibling ``shared/standards`` folder (see shared/standards/README.md).
STANDARDS = Path(__file__).resolve().parents[2].parent / "shared" / "standards"
MERKLE_VECTORS = STANDARDS / "merkle"

# The leaf inputs of the RFC 6962 test tree used by transparency-dev/merkle's
# testonly package, from which the shared vectors were generated.
RFC6962_LEAVES: list[bytes] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]

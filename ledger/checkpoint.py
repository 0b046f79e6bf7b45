"""C2SP tlog-checkpoint: the log's signed tree head (https://c2sp.org/tlog-checkpoint).

A checkpoint is a signed note (:mod:`ledger.note`) whose text is::

    <origin>\\n             non-empty, no control characters
    <tree size>\\n          ASCII decimal, no leading zeroes ("0" for the empty tree)
    <base64 root hash>\\n   standard base64 with padding of the 32-byte RFC 9162 root
    [<extension line>\\n]*  optional, opaque, non-empty (kept, never required)

followed by a blank line and the signature lines, e.g.::

    example.com/behind-the-sofa
    20852163
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

    — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJu…

The log signs with Ed25519 (signature type 0x01) under a key name that should
equal the origin. Every failure raises :class:`~ledger.errors.CheckpointError`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final

from ledger.errors import CheckpointError, NoteError
from ledger.hashing import HASH_SIZE
from ledger.note import LogKey, VerifierKey, open_note, sign_note

__all__ = ["Checkpoint", "open_checkpoint", "sign_checkpoint"]

MAX_TREE_SIZE: Final = 2**64 - 1
_SIZE_LINE: Final = re.compile(r"0|[1-9][0-9]*")
_CONTROL: Final = re.compile(r"[\x00-\x1f]")


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: which log, how many leaves, and the root over them."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or _CONTROL.search(self.origin):
            raise CheckpointError(
                f"origin must be non-empty without control characters, got {self.origin!r}"
            )
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size must be in [0, 2**64), got {self.size}")
        if len(self.root) != HASH_SIZE:
            raise CheckpointError(f"root must be {HASH_SIZE} bytes, got {len(self.root)}")
        for line in self.extensions:
            if not line or _CONTROL.search(line):
                raise CheckpointError(
                    f"extension lines must be non-empty without control characters, got {line!r}"
                )

    def body(self) -> bytes:
        """The note text that is signed: origin, size, root and extension lines."""
        root = base64.b64encode(self.root).decode("ascii")
        lines = [self.origin, str(self.size), root, *self.extensions]
        return "".join(f"{line}\n" for line in lines).encode()

    @classmethod
    def from_body(cls, text: str | bytes) -> Checkpoint:
        """Parse a checkpoint body (the note text, without signatures)."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise CheckpointError("checkpoint body must be UTF-8") from None
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint body must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"checkpoint needs origin, size and root lines, got {len(lines)}")
        origin, size_line, root_line, *extensions = lines
        if not _SIZE_LINE.fullmatch(size_line):
            raise CheckpointError(f"tree size must be decimal, no leading zeroes: {size_line!r}")
        try:
            root = base64.b64decode(root_line.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise CheckpointError(f"root hash is not base64: {root_line!r}") from None
        if base64.b64encode(root).decode("ascii") != root_line:
            raise CheckpointError(f"root hash is not canonical padded base64: {root_line!r}")
        return cls(origin, int(size_line), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, key: LogKey) -> str:
    """Return ``checkpoint`` as a signed note, signed by ``key``."""
    try:
        return sign_note(checkpoint.body().decode(), key)
    except NoteError as exc:
        raise CheckpointError(str(exc)) from None


def open_checkpoint(
    note: str | bytes, verifier: VerifierKey, *, origin: str | None = None
) -> Checkpoint:
    """Verify ``note`` with ``verifier`` and parse its checkpoint.

    If ``origin`` is given, the checkpoint's origin must equal it.
    """
    try:
        text = open_note(note, [verifier])
    except NoteError as exc:
        raise CheckpointError(str(exc)) from None
    checkpoint = Checkpoint.from_body(text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin is {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint

"""Loading the log's signing key and the anchoring account's key, refusing dev defaults.

In ``development`` (set by the demo and the tests) a missing key falls back to a well-known
development key so that the demo runs with no configuration; in ``staging`` and
``production`` a missing key is an error, and so is the development key itself, however
it was supplied: a checkpoint signed with a published key proves nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path
from typing import Final

from ledger.errors import KeyConfigError, NoteError
from ledger.note import LogKey
from ledger.service.settings import LedgerSection

__all__ = [
    "DEV_ANCHOR_PRIVATE_KEY",
    "DEV_LOG_KEY",
    "DEV_ORIGIN",
    "load_anchor_private_key",
    "load_log_key",
    "write_key_file",
]

_logger = logging.getLogger(__name__)

DEV_ORIGIN: Final = "channeltrace.example/log"
DEV_LOG_KEY: Final = LogKey(
    DEV_ORIGIN, hashlib.sha256(b"channeltrace development log key (public)").digest()
)
"""Well known, never secret: accepted only when ``CT_ENVIRONMENT=development``."""
# anvil's and hardhat's first development account: public knowledge, test funds only.
DEV_ANCHOR_PRIVATE_KEY: Final = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def _read_secret(path: Path, what: str) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise KeyConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _logger.warning("%s file %s is readable by group or others (chmod 600)", what, path)
    return text


def load_log_key(settings: LedgerSection) -> LogKey:
    """The log key from ``CT_LEDGER_KEY_FILE`` or ``CT_LEDGER_KEY``; the dev key in development."""
    if settings.ledger_key_file is not None:
        text = _read_secret(settings.ledger_key_file, "log key")
        source = str(settings.ledger_key_file)
    elif settings.ledger_key is not None:
        text, source = settings.ledger_key.get_secret_value().strip(), "CT_LEDGER_KEY"
    elif settings.environment == "development":
        _logger.warning("no CT_LEDGER_KEY_FILE: signing with the public development log key")
        return DEV_LOG_KEY
    else:
        raise KeyConfigError(
            f"CT_LEDGER_KEY_FILE is required in {settings.environment} "
            "(create one with `channeltrace ledger keygen`)"
        )
    try:
        key = LogKey.parse(text)
    except NoteError as exc:
        raise KeyConfigError(f"log key from {source} is malformed: {exc}") from None
    if key.seed == DEV_LOG_KEY.seed and settings.environment != "development":
        raise KeyConfigError(
            f"log key from {source} is the public development key: refused in "
            f"{settings.environment}"
        )
    return key


def load_anchor_private_key(settings: LedgerSection) -> str:
    """The anchoring account's hex private key; anvil's first account in development."""
    if settings.ledger_anchor_key_file is not None:
        text = _read_secret(settings.ledger_anchor_key_file, "anchor key")
    elif settings.ledger_anchor_key is not None:
        text = settings.ledger_anchor_key.get_secret_value().strip()
    elif settings.environment == "development":
        return DEV_ANCHOR_PRIVATE_KEY
    else:
        raise KeyConfigError(f"CT_LEDGER_ANCHOR_KEY_FILE is required in {settings.environment}")
    normalized = text.lower().removeprefix("0x")
    if len(normalized) != 64 or any(c not in "0123456789abcdef" for c in normalized):
        raise KeyConfigError("anchor key must be 32 bytes of hex")
    if f"0x{normalized}" == DEV_ANCHOR_PRIVATE_KEY and settings.environment != "development":
        raise KeyConfigError(
            f"anchor key is a public development account: refused in {settings.environment}"
        )
    return f"0x{normalized}"


def write_key_file(path: Path, key: LogKey) -> None:
    """Write ``key`` as an skey string to a new file readable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(key.to_skey() + "\n")
    except FileExistsError:
        raise KeyConfigError(f"{path} exists: refusing to overwrite a key") from None
    except OSError as exc:
        raise KeyConfigError(f"cannot write {path}: {exc.strerror}") from None

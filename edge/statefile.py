"""Small JSON state files that survive ``kill -9`` and power cuts: write, fsync, rename."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from edge.errors import EdgeError

__all__ = ["read_state", "write_state"]

_logger = logging.getLogger(__name__)


def write_state(path: Path, document: dict[str, Any]) -> None:
    """Replace ``path`` atomically: readers see the old or the new document, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    data = json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must reach the disk too
        finally:
            os.close(directory)
    except OSError as exc:
        raise EdgeError(f"cannot write state file {path}: {exc.strerror}") from None


def read_state(path: Path) -> dict[str, Any]:
    """The document in ``path``; empty when missing. A corrupt file is logged and ignored."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise EdgeError(f"cannot read state file {path}: {exc.strerror}") from None
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _logger.error("state file %s is corrupt (%s); starting from defaults", path, exc)
        return {}
    if not isinstance(document, dict):
        _logger.error("state file %s holds %s, expected an object", path, type(document).__name__)
        return {}
    return document

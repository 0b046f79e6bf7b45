"""A real Ethereum dev chain for the tests: anvil from npm ``@foundry-rs/anvil-linux-amd64``.

The session fixture ``anvil`` starts ``anvil --host 127.0.0.1 --port FREE --silent`` from
``node_modules`` (``npm ci`` installs it), waits until its JSON-RPC answers, and stops and
reaps it at the end. A missing binary skips locally and fails when ``CI=true``, like the
other services (:func:`tests.plugins.services.missing_service_outcome`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from channeltrace.chain import ANVIL_BINARY, Anvil, start_anvil
from tests.plugins.services import missing_service_outcome

__all__ = ["ANVIL_BINARY", "Anvil", "anvil", "start_anvil"]


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """anvil for the whole session (shared: never stop it; deploy your own contract)."""
    if not ANVIL_BINARY.is_file():
        reason = f"anvil not installed ({ANVIL_BINARY}); run `npm ci` at the repository root"
        if missing_service_outcome(os.environ) == "fail":
            pytest.fail(f"{reason} (CI=true: a missing service fails, it is never skipped)", False)
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="ct-anvil-") as workdir:
        chain = start_anvil(Path(workdir))
        try:
            yield chain
        finally:
            chain.stop()

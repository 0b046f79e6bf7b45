"""A real Ethereum dev chain: anvil from the npm package ``@foundry-rs/anvil-linux-amd64``.

Used by the test fixture ``anvil`` (tests/plugins/anvil.py), the ledger benchmark and
``channeltrace demo``. ``npm ci`` at the repository root installs it.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from channeltrace._process import (
    LOOPBACK,
    ServiceStartError,
    ServiceUnavailable,
    free_port,
    log_tail,
    reap,
)

__all__ = ["ANVIL_BINARY", "DEV_PRIVATE_KEYS", "Anvil", "start_anvil"]

_ROOT = Path(__file__).resolve().parents[1]
ANVIL_BINARY = _ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
# anvil's well-known development accounts (mnemonic "test test ... junk"): never real funds.
DEV_PRIVATE_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
)


@dataclass
class Anvil:
    """A running anvil: its JSON-RPC URL, chain id and funded development keys."""

    url: str
    chain_id: int
    process: subprocess.Popen[bytes]
    log_path: Path
    private_keys: tuple[str, ...] = DEV_PRIVATE_KEYS

    def stop(self) -> None:
        reap(self.process, signal.SIGTERM, 10)


def _rpc(url: str, method: str) -> object:
    # Only ever our own http://127.0.0.1 URL, built in start_anvil.
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
        return json.loads(response.read())["result"]


def start_anvil(workdir: Path, *, timeout: float = 30.0) -> Anvil:
    """Start anvil on a free loopback port and wait until eth_chainId answers."""
    if not ANVIL_BINARY.is_file():
        raise ServiceUnavailable(
            f"anvil not installed at {ANVIL_BINARY}: run `npm ci` (scripts/bootstrap.sh does)"
        )
    port = free_port()
    log_path = workdir / "anvil.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(ANVIL_BINARY), "--host", LOOPBACK, "--port", str(port), "--silent"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServiceStartError(
                f"anvil exited with {process.returncode}:\n{log_tail(log_path)}"
            )
        with contextlib.suppress(OSError, urllib.error.URLError, KeyError, ValueError):
            chain_id = int(str(_rpc(url, "eth_chainId")), 16)
            return Anvil(url=url, chain_id=chain_id, process=process, log_path=log_path)
        if time.monotonic() > deadline:
            reap(process, signal.SIGKILL, 5)
            raise ServiceStartError(f"anvil did not answer on {url} within {timeout:.0f} s")
        time.sleep(0.05)

"""``channeltrace ledger ...``: keys, checkpoints, anchoring, audit, bundles, verification.

Only typer and the standard library at module level: the heavy imports (psycopg, web3,
rfc8785) happen inside the commands that need them.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from common.cli import DatabaseUrl, fail, setup_logging

__all__ = ["ledger_app"]

ledger_app = typer.Typer(
    help="Provenance ledger: checkpoints, anchoring, audit, proof bundles, verification.",
    no_args_is_help=True,
)

RpcUrl = Annotated[
    str | None, typer.Option("--rpc", help="Ethereum JSON-RPC URL (default: CT_ETH_RPC_URL).")
]
Contract = Annotated[
    str | None, typer.Option("--contract", help="Anchor contract (default: CT_LEDGER_CONTRACT).")
]


def _setup_logging(verbose: bool) -> None:
    setup_logging(verbose, level=logging.WARNING)


@ledger_app.command("keygen")
def keygen(
    key_file: Annotated[Path, typer.Argument(help="Where to write the signer key (mode 600).")],
    origin: Annotated[
        str, typer.Option(help="Log origin (key name), e.g. brand.example/ledger.")
    ] = "channeltrace.example/log",
) -> None:
    """Create the log's Ed25519 key; prints the public verifier key (vkey) to publish."""
    from ledger.errors import LedgerError
    from ledger.note import LogKey
    from ledger.service.keys import write_key_file

    try:
        key = LogKey.generate(origin)
        write_key_file(key_file, key)
    except LedgerError as exc:
        raise fail(str(exc)) from None
    typer.echo(key.verifier().to_vkey())


@ledger_app.command("vkey")
def vkey() -> None:
    """Print the verifier key (vkey) of the configured log key (CT_LEDGER_KEY_FILE)."""
    from ledger.errors import LedgerError
    from ledger.service.keys import load_log_key
    from ledger.service.settings import get_ledger_section

    try:
        typer.echo(load_log_key(get_ledger_section()).verifier().to_vkey())
    except LedgerError as exc:
        raise fail(str(exc)) from None


@ledger_app.command("append")
def append(
    events: Annotated[Path, typer.Argument(help="JSON Lines file of events ('-': stdin).")],
    database_url: DatabaseUrl = None,
    batch: Annotated[int, typer.Option(min=1, help="Entries per transaction.")] = 1000,
) -> None:
    """Append events (one JSON object per line) to the log, in batches."""
    import json

    import psycopg

    from ledger.errors import LedgerError
    from ledger.service.pg_store import PgLog
    from ledger.service.settings import get_ledger_section

    stream = sys.stdin if str(events) == "-" else events.open(encoding="utf-8")
    try:
        url = database_url or get_ledger_section().database_url
        with psycopg.connect(url, autocommit=True) as c:
            log, pending, size = PgLog(c), [], 0
            for number, line in enumerate(stream, 1):
                if line.strip():
                    try:
                        pending.append(json.loads(line))
                    except ValueError as exc:
                        raise fail(f"{events}:{number}: not JSON: {exc}") from None
                if len(pending) >= batch:
                    size = log.append(pending).size
                    pending = []
            if pending:
                size = log.append(pending).size
    except (LedgerError, psycopg.Error) as exc:
        raise fail(str(exc)) from None
    finally:
        if stream is not sys.stdin:
            stream.close()
    typer.echo(f"tree size {size}")


@ledger_app.command("checkpoint")
def checkpoint(database_url: DatabaseUrl = None, verbose: bool = False) -> None:
    """Sign a checkpoint of the current tree now (if it grew) and print the latest one."""
    _setup_logging(verbose)
    import psycopg

    from ledger.errors import LedgerError
    from ledger.service.jobs import make_checkpoint
    from ledger.service.keys import load_log_key
    from ledger.service.records import latest_checkpoint
    from ledger.service.settings import get_ledger_section

    settings = get_ledger_section()
    try:
        key = load_log_key(settings)
        with psycopg.connect(database_url or settings.database_url, autocommit=True) as c:
            made = make_checkpoint(c, key)
            latest = made or latest_checkpoint(c)
    except (LedgerError, psycopg.Error) as exc:
        raise fail(str(exc)) from None
    if latest is None:
        raise fail("the log is empty: nothing to checkpoint", code=1)
    typer.echo(latest.note, nl=False)


def _anchorer(rpc: str | None, contract: str | None) -> object:
    from ledger.service.anchor import Web3Anchorer
    from ledger.service.keys import load_anchor_private_key
    from ledger.service.settings import get_ledger_section

    settings = get_ledger_section()
    url = rpc or settings.eth_rpc_url
    address = contract or settings.ledger_contract
    if not url or not address:
        raise fail("need --rpc/CT_ETH_RPC_URL and --contract/CT_LEDGER_CONTRACT")
    return Web3Anchorer(url, address, load_anchor_private_key(settings))


@ledger_app.command("deploy")
def deploy(rpc: RpcUrl = None) -> None:
    """Deploy contracts/Anchor.json from the anchoring account; prints the address."""
    from ledger.errors import LedgerError
    from ledger.service.anchor import deploy_anchor_contract
    from ledger.service.keys import load_anchor_private_key
    from ledger.service.settings import get_ledger_section

    settings = get_ledger_section()
    url = rpc or settings.eth_rpc_url
    if not url:
        raise fail("need --rpc or CT_ETH_RPC_URL")
    try:
        typer.echo(deploy_anchor_contract(url, load_anchor_private_key(settings)))
    except LedgerError as exc:
        raise fail(str(exc)) from None


@ledger_app.command("anchor")
def anchor(
    database_url: DatabaseUrl = None,
    rpc: RpcUrl = None,
    contract: Contract = None,
    verbose: bool = False,
) -> None:
    """Anchor the latest checkpoint on chain if the tree grew since the last anchor (once)."""
    _setup_logging(verbose)
    import psycopg

    from ledger.errors import LedgerError
    from ledger.service.anchor import Web3Anchorer
    from ledger.service.jobs import anchor_latest
    from ledger.service.settings import get_ledger_section

    settings = get_ledger_section()
    try:
        anchorer = _anchorer(rpc, contract)
        assert isinstance(anchorer, Web3Anchorer)
        with psycopg.connect(database_url or settings.database_url, autocommit=True) as c:
            outcome = anchor_latest(
                c, anchorer, receipt_timeout=settings.ledger_anchor_receipt_timeout_seconds
            )
    except (LedgerError, psycopg.Error) as exc:
        raise fail(str(exc)) from None
    tx = "" if outcome.tx_hash is None else f" tx 0x{outcome.tx_hash.hex()}"
    typer.echo(f"{outcome.status} size {outcome.size}{tx}")


@ledger_app.command("audit")
def audit(
    database_url: DatabaseUrl = None,
    log_key: Annotated[
        str | None, typer.Option("--log-key", help="Verifier key (default: of CT_LEDGER_KEY_FILE).")
    ] = None,
) -> None:
    """Recompute the log from its rows and compare with the signed checkpoints."""
    import psycopg

    from ledger.errors import LedgerError
    from ledger.note import VerifierKey
    from ledger.service.jobs import audit as run_audit
    from ledger.service.keys import load_log_key
    from ledger.service.settings import get_ledger_section

    settings = get_ledger_section()
    try:
        verifier = VerifierKey.parse(log_key) if log_key else load_log_key(settings).verifier()
        with psycopg.connect(database_url or settings.database_url, autocommit=True) as c:
            report = run_audit(c, verifier)
    except (LedgerError, psycopg.Error) as exc:
        raise fail(str(exc)) from None
    for finding in report.findings:
        typer.echo(str(finding))
    typer.echo(
        f"{report.entries} entries, {report.checkpoints} checkpoints, "
        f"{len(report.findings)} findings"
    )
    if not report.ok:
        raise typer.Exit(code=1)


@ledger_app.command("bundle")
def bundle(
    index: Annotated[int, typer.Argument(min=0, help="Entry index.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File (default: stdout).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the proof bundle of one entry (JSON)."""
    import psycopg

    from ledger.errors import LedgerError
    from ledger.service.publish import build_bundle
    from ledger.service.settings import get_ledger_section

    try:
        url = database_url or get_ledger_section().database_url
        with psycopg.connect(url, autocommit=True) as c:
            text = build_bundle(c, index).to_json()
    except (LedgerError, psycopg.Error) as exc:
        raise fail(str(exc)) from None
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@ledger_app.command("verify")
def verify(
    bundle_file: Annotated[Path, typer.Argument(metavar="BUNDLE", help="Proof bundle JSON.")],
    rpc: Annotated[str, typer.Option("--rpc", help="Ethereum JSON-RPC URL to trust.")],
    log_key: Annotated[str, typer.Option("--log-key", help="The log's verifier key (vkey).")],
    contract: Annotated[
        str | None, typer.Option("--contract", help="Require anchors from this contract.")
    ] = None,
) -> None:
    """Verify a proof bundle offline, trusting only the chain RPC and the log's public key.

    Exit status 0 when every check passes, 1 when one fails, 2 when the inputs are unusable.
    """
    from ledger.bundle import ProofBundle
    from ledger.errors import LedgerError
    from ledger.note import VerifierKey
    from ledger.service.anchor import Web3Chain
    from ledger.verify import verify_bundle

    try:
        verifier = VerifierKey.parse(log_key)
    except LedgerError as exc:
        raise fail(f"--log-key: {exc}") from None
    try:
        parsed = ProofBundle.from_json(bundle_file.read_bytes())
    except OSError as exc:
        raise fail(f"cannot read {bundle_file}: {exc.strerror}") from None
    except LedgerError as exc:
        raise fail(f"{bundle_file}: {exc}") from None
    report = verify_bundle(parsed, verifier, Web3Chain(rpc), contract=contract)
    for check in report.checks:
        typer.echo(str(check))
    if report.ok:
        typer.echo(f"VERIFIED: entry {parsed.index} is in the anchored log")
        return
    typer.secho(
        f"NOT VERIFIED: {len(report.failures)} check(s) failed: "
        + "; ".join(c.name for c in report.failures),
        fg=typer.colors.RED,
        err=True,
    )
    raise typer.Exit(code=1)

"""``channeltrace codes ...``: issue signed GS1 Digital Link trace codes; brand keys.

Module level imports only typer and the standard library; the provenance code (segno,
cryptography) is imported inside the commands.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Literal

import typer

from common.cli import Verbose, checked_database_url, fail, setup_logging

__all__ = ["codes_app"]

codes_app = typer.Typer(
    help="Trace codes: issue signed GS1 Digital Link codes, manage brand keys.",
    no_args_is_help=True,
)
key_app = typer.Typer(help="Brand signing keys (Ed25519).", no_args_is_help=True)
codes_app.add_typer(key_app, name="key")

RecordIn = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Record in this database (serials unique across batches; resolvable).",
        callback=checked_database_url,
    ),
]
Tenant = Annotated[str | None, typer.Option(help="Brand (tenant) id; needed with --database-url.")]

KeyDir = Annotated[
    Path, typer.Option("--dir", help="Key directory (brand-<kid>.pem files + keyring.json).")
]


@key_app.command("new")
def key_new(
    directory: KeyDir,
    database_url: RecordIn = None,
    tenant: Tenant = None,
    verbose: Verbose = False,
) -> None:
    """Create a brand key (also how keys rotate: older keys keep verifying their codes)."""
    setup_logging(verbose)
    from cloud.provenance.errors import KeyStoreError
    from cloud.provenance.keys import create_brand_key

    if database_url is not None and tenant is None:
        raise fail("--tenant is required with --database-url")
    try:
        path, entry = create_brand_key(directory)
    except (KeyStoreError, OSError) as exc:
        raise fail(str(exc)) from None
    if database_url is not None and tenant is not None:
        import psycopg

        from cloud.provenance.brands import register_brand_key

        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                register_brand_key(conn, tenant, entry)
        except psycopg.Error as exc:
            raise fail(f"key created at {path} but not registered: {exc}") from None
        typer.echo(f"registered for tenant {tenant}: resolvers will accept its codes")
    typer.echo(f"key id      {entry.kid}")
    typer.echo(f"private key {path} (mode 0600: keep it offline, back it up)")
    typer.echo(f"public key  {entry.public_key}")


@key_app.command("show")
def key_show(directory: KeyDir) -> None:
    """List the public keys in the keyring (what resolvers need to verify codes)."""
    from cloud.provenance.errors import KeyStoreError
    from cloud.provenance.keys import load_keyring

    try:
        keyring = load_keyring(directory)
    except KeyStoreError as exc:
        raise fail(str(exc)) from None
    if not keyring.keys:
        raise fail(f"no keys in {directory}; create one with `channeltrace codes key new`")
    for key in keyring.keys:
        state = f"revoked {key.revoked}" if key.revoked else "active"
        typer.echo(f"{key.kid}  {key.created}  {state:28s} {key.public_key}")


@key_app.command("revoke")
def key_revoke(
    kid: Annotated[str, typer.Argument(help="Key id (8 hex digits).")], directory: KeyDir
) -> None:
    """Revoke a leaked key: every code it signed stops verifying."""
    from cloud.provenance.errors import KeyStoreError
    from cloud.provenance.keys import revoke_key

    try:
        entry = revoke_key(directory, kid)
    except KeyStoreError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"revoked {entry.kid} at {entry.revoked}")


@codes_app.command("issue")
def codes_issue(
    gtin: Annotated[str, typer.Option(help="GTIN-8/12/13/14 (check digit is verified).")],
    lot: Annotated[str, typer.Option(help="Batch/lot (AI 10), up to 20 characters.")],
    count: Annotated[int, typer.Option(min=1, help="How many codes.")],
    brand_key: Annotated[Path, typer.Option(help="The brand's private key (PEM).")],
    resolver: Annotated[str, typer.Option(help="Resolver host, e.g. id.brand.example.")],
    out: Annotated[Path, typer.Option(help="Output directory (must not exist).")],
    start_serial: Annotated[
        str | None, typer.Option(help="Sequential numeric serials from here (else random).")
    ] = None,
    serial_length: Annotated[int, typer.Option(help="Length of random serials.")] = 12,
    qr: Annotated[str, typer.Option(help="QR images: png, svg or none.")] = "png",
    sheet: Annotated[bool, typer.Option(help="Also write a printable A4 sheet.html.")] = False,
    database_url: RecordIn = None,
    tenant: Tenant = None,
    verbose: Verbose = False,
) -> None:
    """Issue COUNT signed codes: codes.csv, qr/ images, sheet.html, manifest.json.

    With --database-url the batch is recorded in the same transaction that writes the
    files: codes that reach a printer are always resolvable, and never issued twice.
    """
    setup_logging(verbose)
    if qr not in ("png", "svg", "none"):
        raise fail(f"--qr must be png, svg or none; got {qr!r}")
    if database_url is not None and tenant is None:
        raise fail("--tenant is required with --database-url")
    import psycopg
    from rich.progress import Progress

    from cloud.provenance.errors import ProvenanceError
    from cloud.provenance.issue import IssueRequest, issue_codes, write_batch
    from cloud.provenance.keys import load_private_key
    from wire.errors import IdentifierError
    from wire.gs1 import Gtin

    fmt: Literal["png", "svg", "none"] = "png" if qr == "png" else "svg" if qr == "svg" else "none"
    try:
        request = IssueRequest(resolver, Gtin.parse(gtin), lot, count, start_serial, serial_length)
        key = load_private_key(brand_key)
        with ExitStack() as stack:
            existing: set[str] = set()
            conn = None
            if database_url is not None and tenant is not None:
                from cloud.provenance.brands import issued_serials, record_issued_codes

                conn = stack.enter_context(psycopg.connect(database_url))
                stack.enter_context(conn.transaction())
                existing = issued_serials(conn, tenant, request.gtin.value)
            codes = list(issue_codes(request, key, existing))
            if conn is not None and tenant is not None:
                record_issued_codes(conn, tenant, out.name, codes, lot)
            progress = stack.enter_context(Progress(transient=True, disable=count < 200))
            task = progress.add_task("issuing", total=count)
            write_batch(request, iter(codes), out, qr=fmt, sheet=sheet,
                        on_progress=lambda n: progress.update(task, completed=n))  # fmt: skip
    except (ProvenanceError, IdentifierError, OSError) as exc:
        raise fail(str(exc)) from None
    except psycopg.Error as exc:
        raise fail(f"database: {exc}") from None
    typer.echo(f"issued {count} codes for GTIN {request.gtin} lot {lot} into {out}")


@codes_app.command("verify")
def codes_verify(
    code: Annotated[str, typer.Argument(help="The scanned code (URI).")], directory: KeyDir
) -> None:
    """Verify a code offline against the keyring; exit status 1 if it is not valid."""
    from cloud.provenance.codes import check_code
    from cloud.provenance.errors import KeyStoreError
    from cloud.provenance.keys import load_keyring

    try:
        result = check_code(code, load_keyring(directory))
    except KeyStoreError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{result.status}: {result.reason}")
    if not result.valid:
        raise typer.Exit(code=1)

"""Issuing a batch of signed trace codes: serials, CSV, QR images, printable sheet.

The output directory appears whole or not at all: everything is written to a hidden
temporary directory beside it and renamed into place at the end (``os.replace`` of a
directory on one file system is atomic), so an interrupted run leaves no half batch that
could be printed by mistake. An existing output directory is never overwritten.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.provenance.codes import SignedCode, sign_link
from cloud.provenance.errors import IssuanceError
from cloud.provenance.sheet import render_sheet
from wire.digital_link import DigitalLink
from wire.errors import IdentifierError
from wire.gs1 import MAX_SERIAL_LENGTH, Gtin, check_ai_value

__all__ = [
    "SERIAL_ALPHABET",
    "IssueRequest",
    "IssuedCode",
    "QrFormat",
    "generate_serials",
    "issue_codes",
    "make_qr",
    "write_batch",
]

_logger = logging.getLogger(__name__)

QrFormat = Literal["png", "svg", "none"]
#: Upper-case letters and digits without 0/O and 1/I: 32 symbols, 5 bits each, no misreads
#: when a serial is typed from the human-readable line.
SERIAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
MAX_COUNT = 10_000_000


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """What to issue: ``count`` units of one GTIN and lot on one resolver."""

    resolver: str
    gtin: Gtin
    lot: str
    count: int
    start_serial: str | None = None
    serial_length: int = 12

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_COUNT:
            raise IssuanceError(f"count must be 1..{MAX_COUNT}; got {self.count}")
        if not 8 <= self.serial_length <= MAX_SERIAL_LENGTH:
            raise IssuanceError(
                f"random serial length must be 8..{MAX_SERIAL_LENGTH}; got {self.serial_length}"
            )
        if self.start_serial is not None:
            if not self.start_serial.isdigit() or not self.start_serial.isascii():
                raise IssuanceError(f"start serial must be digits; got {self.start_serial!r}")
            last = int(self.start_serial) + self.count - 1
            if len(str(last)) > MAX_SERIAL_LENGTH:
                raise IssuanceError(f"serials would exceed {MAX_SERIAL_LENGTH} digits")
        try:
            DigitalLink(self.resolver, self.gtin, lot=self.lot, serial="1")
        except IdentifierError as exc:
            raise IssuanceError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class IssuedCode:
    serial: str
    link: DigitalLink
    code: SignedCode


def generate_serials(
    request: IssueRequest, existing: Container[str] = frozenset()
) -> Iterator[str]:
    """Sequential serials from ``start_serial`` (zero-padded to its width), else random ones.

    Random serials come from :mod:`secrets` (``serial_length`` × 5 bits: 60 bits by default,
    so they cannot be guessed or enumerated) and are unique within the batch and not in
    ``existing`` (the serials already issued for this GTIN, from the database).
    """
    if request.start_serial is not None:
        width, start = len(request.start_serial), int(request.start_serial)
        for n in range(start, start + request.count):
            serial = str(n).zfill(width)
            if serial in existing:
                raise IssuanceError(f"serial {serial} was already issued for {request.gtin}")
            yield serial
        return
    seen: set[str] = set()
    while len(seen) < request.count:
        serial = "".join(secrets.choice(SERIAL_ALPHABET) for _ in range(request.serial_length))
        if serial in seen or serial in existing:
            continue
        seen.add(serial)
        yield check_ai_value("serial (AI 21)", serial, MAX_SERIAL_LENGTH)


def issue_codes(
    request: IssueRequest, key: Ed25519PrivateKey, existing: Container[str] = frozenset()
) -> Iterator[IssuedCode]:
    """Sign one code per serial, lazily (large batches never sit in memory twice)."""
    for serial in generate_serials(request, existing):
        link = DigitalLink(request.resolver, request.gtin, lot=request.lot, serial=serial)
        yield IssuedCode(serial, link, sign_link(link, key))


def make_qr(code: SignedCode) -> segno.QRCode:
    """The QR symbol for a code: error correction M, byte mode, smallest version that fits."""
    return segno.make_qr(code.uri, error="m", boost_error=False)


def write_batch(
    request: IssueRequest,
    codes: Iterator[IssuedCode],
    out: Path,
    *,
    qr: QrFormat = "png",
    sheet: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``codes.csv`` (+ ``qr/``, ``sheet.html``, ``manifest.json``) atomically to ``out``."""
    if out.exists():
        raise IssuanceError(f"refusing to overwrite existing output {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-", suffix=".partial"))
    try:
        manifest = _write_into(tmp, request, codes, qr, sheet, on_progress)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _logger.info("issued %d codes into %s", manifest["count"], out)
    return out


def _write_into(
    tmp: Path,
    request: IssueRequest,
    codes: Iterator[IssuedCode],
    qr: QrFormat,
    sheet: bool,
    on_progress: Callable[[int], None] | None,
) -> dict[str, object]:
    if qr != "none":
        (tmp / "qr").mkdir()
    cells: list[tuple[IssuedCode, str]] = []
    versions: set[int] = set()
    kids: set[str] = set()
    count = 0
    with (tmp / "codes.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["serial", "uri", "code", "qr_file"])
        for count, issued in enumerate(codes, start=1):
            qr_file = ""
            symbol = make_qr(issued.code) if (qr != "none" or sheet) else None
            if symbol is not None:
                versions.add(int(symbol.version))
                if qr != "none":
                    qr_file = f"qr/{count:07d}.{qr}"
                    symbol.save(str(tmp / qr_file), scale=8 if qr == "png" else 1, border=4)
                if sheet:
                    cells.append((issued, symbol.svg_inline(scale=1, border=4, omitsize=True)))
            writer.writerow([issued.serial, issued.link.uri, issued.code.uri, qr_file])
            kids.add(issued.code.kid)
            if on_progress is not None:
                on_progress(count)
    if sheet:
        (tmp / "sheet.html").write_text(render_sheet(request, cells), encoding="utf-8")
    digest = hashlib.sha256((tmp / "codes.csv").read_bytes()).hexdigest()
    return {
        "gtin": request.gtin.value,
        "lot": request.lot,
        "resolver": request.resolver,
        "count": count,
        "key_ids": sorted(kids),
        "qr": qr,
        "qr_versions": sorted(versions),
        "codes_csv_sha256": digest,
    }

"""Trace-code issuance throughput: codes/min signing only, with QR symbols, with files.

    python -m bench.codes [--count N]

Prints figures; asserts nothing (DESIGN: benchmarks print, tests never time).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.provenance.codes import check_code
from cloud.provenance.issue import IssueRequest, issue_codes, make_qr, write_batch
from cloud.provenance.keys import Keyring
from wire.gs1 import Gtin


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds * 60:>12,.0f} codes/min  ({seconds:.2f} s for {count:,})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5_000)
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    request = IssueRequest("id.brand.example", Gtin.parse("9506000134352"), "L2025-05", args.count)

    start = time.perf_counter()
    codes = list(issue_codes(request, key))
    print("sign only (random serials)      ", _rate(args.count, time.perf_counter() - start))

    ring = Keyring.of(key.public_key())
    start = time.perf_counter()
    for issued in codes:
        check_code(issued.code.uri, ring)
    print("verify offline                  ", _rate(args.count, time.perf_counter() - start))

    start = time.perf_counter()
    versions = Counter(int(make_qr(c.code).version) for c in codes)
    print("sign + QR symbol (in memory)    ", _rate(args.count, time.perf_counter() - start))

    with tempfile.TemporaryDirectory() as tmp:
        for qr in ("none", "svg", "png"):
            out = Path(tmp) / qr
            start = time.perf_counter()
            write_batch(request, issue_codes(request, key), out, qr=qr)
            label = f"batch to disk, qr={qr}"
            print(f"{label:32s}", _rate(args.count, time.perf_counter() - start))
        subset = IssueRequest(request.resolver, request.gtin, request.lot, min(args.count, 2_000))
        start = time.perf_counter()
        write_batch(subset, issue_codes(subset, key), Path(tmp) / "sheet", qr="none", sheet=True)
        print("batch + A4 sheet (qr=none)      ", _rate(subset.count, time.perf_counter() - start))

    lengths = [len(c.code.uri) for c in codes]
    print(f"code length: median {statistics.median(lengths):.0f} chars, max {max(lengths)}")
    print("QR versions (error correction M):", dict(sorted(versions.items())))
    print("example:", codes[0].code.uri)


if __name__ == "__main__":
    main()

"""Resolver benchmark: consumer scans per second and latency through uvicorn.

Run: ``.venv/bin/python bench/resolver.py [--codes 2000] [--requests 4000] [--clients 8]``.
Prints figures (progress on stderr); asserts nothing. Starts its own PostgreSQL (fsync on:
every scan is a durable INSERT), issues and records signed codes, captures their custody
(commission → pack → ship → receive, as one EPCIS document through the app), then starts
``uvicorn`` on 127.0.0.1 in a subprocess (one worker) and drives it with ``--clients``
threads, each with a keep-alive ``httpx`` client, scanning random codes from random places
(JSON answers: verdict, timeline with proof links, cold-chain exposure). Also prints the
rate of issuing + recording codes in the database (signing alone: ``bench/codes.py``).

Then the cost of one code's history: the median latency of a genuine scan of one code on
its own, after ``--hostile`` unsigned scans of it (kept apart, never read by its verdict),
and after as many genuine scans (the verdict reads one bounded summary row): the three
figures should stay alike, whatever ``--hostile`` is.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from channeltrace.services import free_port, start_postgres  # noqa: E402
from cloud.channel.bulk import ensure_tenants  # noqa: E402
from cloud.channel.changes import Actor  # noqa: E402
from cloud.channel.records import Distributor, Location, Party, Product, Site  # noqa: E402
from cloud.channel.store import save_record  # noqa: E402
from cloud.migrate import migrate  # noqa: E402
from cloud.provenance.brands import (  # noqa: E402
    record_issued_codes,
    register_brand_key,
)
from cloud.provenance.capture import Capturer, capture_document  # noqa: E402
from cloud.provenance.issue import IssuedCode, IssueRequest, issue_codes  # noqa: E402
from cloud.provenance.keys import create_brand_key, load_private_key  # noqa: E402
from cloud.provenance.prefixes import add_prefix  # noqa: E402
from wire.gs1 import Gtin  # noqa: E402

GTIN = "09506000134352"
PARTY = "urn:epc:id:pgln:9506000.00001"
DC = "urn:epc:id:sgln:9506000.00020.0"
PALLET = "urn:epc:id:sscc:9506000.0000000099"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_app() -> FastAPI:
    """The production app factory on ``CT_DATABASE_URL`` (uvicorn ``--factory``)."""
    from cloud.api import create_app
    from cloud.settings import CloudSettings

    return create_app(CloudSettings())


def _setup(url: str, keys: Path, count: int, host: str) -> tuple[list[IssuedCode], float]:
    key_path, entry = create_brand_key(keys)
    key = load_private_key(key_path)
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        operator = Actor("bench:operator", "operator")  # the channel, through its store
        ensure_tenants(conn, [("acme", "Acme")], operator)
        for record in (
            Product(GTIN, "Reserve Red", None, 10, 18),
            Distributor("dist-gd", "South", regions=("440000",)),
            Site("dc", "DC", region="440100", distributor_id="dist-gd"),
            Location(DC, "dc"),
            Party(PARTY, "dist-gd"),
        ):
            save_record(conn, "acme", record, operator)
        rows = [(now - timedelta(minutes=5 * i), 14.0 + (i % 7) * 0.3) for i in range(8_000)]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (time, received_at, tenant_id, site_id, device_id, seq,"
                " sensor, metric, value) VALUES (%s, now(), 'acme', 'dc', 'gw', 1, 'p',"
                " 'temperature_c', %s)",
                rows,
            )
        add_prefix(conn, "acme", "9506000")
        register_brand_key(conn, "acme", entry)
        started = time.perf_counter()
        codes = list(issue_codes(IssueRequest(host, Gtin(GTIN), "L1", count), key))
        record_issued_codes(conn, "acme", "bench", codes, "L1")
        issue_s = time.perf_counter() - started
        epcs = [c.link.uri for c in codes]
        where = {"bizLocation": {"id": DC}, "readPoint": {"id": DC}}
        dest = {"destinationList": [{"type": "owning_party", "destination": PARTY}]}

        def event(days: float, **fields: Any) -> dict[str, Any]:
            when = (now - timedelta(days=days)).isoformat().replace("+00:00", "Z")
            return {"eventTime": when, "eventTimeZoneOffset": "+08:00", **fields}

        document = {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": event(0)["eventTime"],
            "epcisBody": {
                "eventList": [
                    event(
                        30, type="ObjectEvent", epcList=epcs, action="ADD", bizStep="commissioning"
                    ),
                    event(
                        29,
                        type="AggregationEvent",
                        parentID=PALLET,
                        childEPCs=epcs,
                        action="ADD",
                        bizStep="packing",
                    ),
                    event(
                        28,
                        type="ObjectEvent",
                        epcList=[PALLET],
                        action="OBSERVE",
                        bizStep="shipping",
                        **dest,
                    ),
                    event(
                        27,
                        type="ObjectEvent",
                        epcList=[PALLET],
                        action="OBSERVE",
                        bizStep="receiving",
                        **where,
                        **dest,
                    ),
                ]
            },
        }
        capture_document(conn, document, capturer=Capturer("acme"))
    return codes, issue_s


def _wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"uvicorn did not listen on {port} within {timeout:g} s")


def _load(base: str, codes: list[str], requests: int, clients: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = requests // clients

    def client(seed: int) -> None:
        rng = random.Random(seed)
        own: list[float] = []
        with httpx.Client(base_url=base, headers={"Accept": "application/json"}) as http:
            for _ in range(per_client):
                code = rng.choice(codes)
                lat, lon = rng.uniform(22.0, 40.0), rng.uniform(108.0, 122.0)
                started = time.perf_counter()
                response = http.get(f"{code}&lat={lat:.5f}&lon={lon:.5f}", timeout=30.0)
                own.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"scan failed: {response.status_code} {response.text}")
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started


def _median_scan_ms(http: httpx.Client, code: str, times: int = 30) -> float:
    took = []
    for _ in range(times):
        started = time.perf_counter()
        response = http.get(f"{code}&lat=23.13&lon=113.26", timeout=30.0)
        took.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"scan failed: {response.status_code} {response.text}")
    return statistics.median(took) * 1000


def _history_cost(base: str, code: str, hostile: int) -> list[str]:
    """Median genuine-scan latency of one code: alone, after ``hostile`` unsigned scans,
    after as many genuine ones (each figure beside the first, measured in the same run)."""
    unsigned = code.split("?", 1)[0]
    lines = []
    with httpx.Client(base_url=base, headers={"Accept": "application/json"}) as http:
        alone = _median_scan_ms(http, code)
        lines.append(f"one code's genuine scan: {alone:.1f} ms (baseline, 30 earlier scans)")
        for _ in range(hostile):
            http.get(unsigned, timeout=30.0)
        after = _median_scan_ms(http, code)
        ratio = after / alone
        lines.append(f"  after {hostile} unsigned scans of it: {after:.1f} ms ({ratio:.2f}x)")
        for _ in range(hostile):
            http.get(code, timeout=30.0)
        many = _median_scan_ms(http, code)
        lines.append(f"  after {hostile} more genuine scans: {many:.1f} ms ({many / alone:.2f}x)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--hostile", type=int, default=500, help="scans of one code")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ct-bench-resolver-"))
    workdir.chmod(0o755)
    try:
        with start_postgres(workdir / "pg", fast=False) as pg:
            url = pg.create_database("bench")
            migrate(url)
            port = free_port()
            host = f"127.0.0.1:{port}"  # codes are verified against the Host they reach
            say(f"issuing, recording and capturing {args.codes} codes ...")
            codes, issue_s = _setup(url, workdir / "keys", args.codes, host)
            # A throwaway database on development secrets; every client is 127.0.0.1, so
            # the public rate limit (not what is measured) is lifted.
            env = {**os.environ, "CT_DATABASE_URL": url, "CT_API_POOL_MAX_SIZE": "16",
                   "CT_ENVIRONMENT": "development",
                   "CT_PUBLIC_RATE_LIMIT": "1000000/minute"}  # fmt: skip
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bench.resolver:bench_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=ROOT,
                env=env,
            )
            try:
                _wait_for(port)
                base = f"http://127.0.0.1:{port}"
                uris = [c.code.uri.removeprefix(f"https://{host}") for c in codes]
                say("warming up ...")
                _load(base, uris, args.clients * 20, args.clients)
                say(f"{args.requests} scans from {args.clients} clients ...")
                latencies, elapsed = _load(base, uris, args.requests, args.clients)
                say(f"one code's history: {args.hostile} unsigned, then genuine scans ...")
                history = _history_cost(base, uris[0], args.hostile)
            finally:
                server.terminate()
                server.wait(timeout=30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"issue + record in PostgreSQL: {args.codes / issue_s * 60:,.0f} codes/min (no QR)")
    print(
        f"resolver: {len(latencies) / elapsed:,.0f} scans/s over {len(latencies)} requests, "
        f"{args.clients} clients, 1 uvicorn worker; p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print("each scan: verify signature, read unit + timeline + exposure + scan summary, judge,")
    print("           INSERT the scan and UPDATE the summary (fsync on)")
    for line in history:
        print(line)


if __name__ == "__main__":
    main()

"""Resolver benchmark: consumer scans per second and latency, beside a ceiling measured on
the same server in the same run.

Run: ``.venv/bin/python bench/resolver.py [--codes 20000] [--units 2000] [--duration 10]``.
Prints figures (progress on stderr); asserts nothing. Needs ``wrk`` (Debian's package;
``scripts/bootstrap.sh`` installs it).

Starts its own PostgreSQL (fsync on: scans are durable, written in batches), issues and
records ``--codes`` signed codes, captures custody for ``--units`` of them (commission →
pack → ship → receive, one EPCIS document through the capture path) with a month of
warehouse readings, computes their passports (the ``provenance.passports`` job), then
starts ``uvicorn`` (one worker) on 127.0.0.1 and drives it with ``wrk`` and a Lua script of
the real signed codes, each request a random code from a random place (most in the
distributor's province) through a trusted proxy header naming one of 4,096 phones:

* **ceiling**: the same app and server settings answering one indexed point select on
  ``trace_codes`` (``/bench/ceiling/{gtin}/{serial}``) through the same async pool;
* **resolver**: the verdict page (HTML, what a phone gets) at the highest rate ``wrk``
  reaches with ``--connections``; the ratio to the ceiling. The two take turns
  (``--rounds`` slices of ``--duration`` each: the machine's speed drifts within seconds),
  each rate over its total time, each percentile the worst of its slices;
* **latency at half the resolver's maximum rate** (``wrk``'s per-connection ``delay``
  paces the requests; the achieved rate is printed);
* the same maximum with the asyncio loop and h11 instead of uvloop and httptools;
* **correct verdicts throughout**: for a sample of codes, every stored scan's verdict is
  replayed in order with :func:`judge_scan` over the unit's passport and the same
  thresholds, and the unit's summary must hold exactly its scans.

The public rate limit is a setting (``CT_PUBLIC_RATE_LIMIT``), raised here: every request
comes from 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

from channeltrace.services import free_port, start_postgres  # noqa: E402
from cloud.channel.bulk import ensure_tenants  # noqa: E402
from cloud.channel.changes import Actor  # noqa: E402
from cloud.channel.records import Distributor, Location, Party, Product, Site  # noqa: E402
from cloud.channel.store import save_record  # noqa: E402
from cloud.migrate import migrate  # noqa: E402
from cloud.provenance.brands import record_issued_codes, register_brand_key  # noqa: E402
from cloud.provenance.capture import Capturer, capture_document  # noqa: E402
from cloud.provenance.issue import IssuedCode, IssueRequest, issue_codes  # noqa: E402
from cloud.provenance.keys import create_brand_key, load_private_key  # noqa: E402
from cloud.provenance.passports import refresh_passports  # noqa: E402
from cloud.provenance.prefixes import add_prefix  # noqa: E402
from wire.gs1 import Gtin  # noqa: E402

GTIN = "09506000134352"
PARTY = "urn:epc:id:pgln:9506000.00001"
DC = "urn:epc:id:sgln:9506000.00020.0"
PALLET = "urn:epc:id:sscc:9506000.0000000099"
PHONES = 4_096


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_app() -> FastAPI:
    """The production app factory on ``CT_DATABASE_URL`` (uvicorn ``--factory``), plus the
    ceiling route: one indexed point select through the resolver's own async pool."""
    from cloud.app import create_app
    from cloud.settings import Settings

    app = create_app(Settings())

    @app.get("/bench/ceiling/{gtin}/{serial}")
    async def ceiling(request: Request, gtin: str, serial: str) -> JSONResponse:
        async with request.app.state.scans.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT lot, kid FROM trace_codes WHERE tenant_id = 'acme' AND gtin = %s"
                " AND serial = %s",
                (gtin, serial),
            )
            row = await cur.fetchone()
        return JSONResponse({"lot": None if row is None else row[0]})

    return app


def _document(epcs: list[str], now: datetime) -> dict[str, Any]:
    where = {"bizLocation": {"id": DC}, "readPoint": {"id": DC}}
    dest = {"destinationList": [{"type": "owning_party", "destination": PARTY}]}

    def event(days: float, **fields: Any) -> dict[str, Any]:
        when = (now - timedelta(days=days)).isoformat().replace("+00:00", "Z")
        return {"eventTime": when, "eventTimeZoneOffset": "+08:00", **fields}

    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": event(0)["eventTime"],
        "epcisBody": {
            "eventList": [
                event(30, type="ObjectEvent", epcList=epcs, action="ADD",
                      bizStep="commissioning"),
                event(29, type="AggregationEvent", parentID=PALLET, childEPCs=epcs,
                      action="ADD", bizStep="packing"),
                event(28, type="ObjectEvent", epcList=[PALLET], action="OBSERVE",
                      bizStep="shipping", **dest),
                event(27, type="ObjectEvent", epcList=[PALLET], action="OBSERVE",
                      bizStep="receiving", **where, **dest),
            ]
        },
    }  # fmt: skip


def _setup(url: str, keys: Path, count: int, units: int, host: str) -> list[IssuedCode]:
    key_path, entry = create_brand_key(keys)
    key = load_private_key(key_path)
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        operator = Actor("bench:operator", "operator")  # the channel, through its store
        ensure_tenants(conn, [("acme", "Acme")], operator)
        for record in (
            Product(GTIN, "Reserve Red", "珍藏红葡萄酒", 10, 18),
            Distributor("dist-gd", "South", regions=("440000",)),
            Site("dc", "Guangzhou DC", region="440100", distributor_id="dist-gd"),
            Location(DC, "dc"),
            Party(PARTY, "dist-gd"),
        ):
            save_record(conn, "acme", record, operator)
        rows = [(now - timedelta(minutes=5 * i), 14.0 + (i % 7) * 0.3) for i in range(8_640)]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (time, received_at, tenant_id, site_id, device_id, seq,"
                " sensor, metric, value) VALUES (%s, now(), 'acme', 'dc', 'gw', 1, 'p',"
                " 'temperature_c', %s)",
                rows,
            )
        add_prefix(conn, "acme", "9506000")
        register_brand_key(conn, "acme", entry)
        codes = list(issue_codes(IssueRequest(host, Gtin(GTIN), "L1", count), key))
        record_issued_codes(conn, "acme", "bench", codes, "L1")
        say(f"capturing custody of {units} units ...")
        capture_document(
            conn, _document([c.link.uri for c in codes[:units]], now), capturer=Capturer("acme")
        )
        say("computing their passports ...")
        started = time.perf_counter()
        done = 0
        while (run := refresh_passports(conn, limit=500)).total:
            done += run.total
        say(f"  {done} passports in {time.perf_counter() - started:.1f} s")
    return codes


def _wait_for(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"uvicorn did not listen on {port} within {timeout:g} s")


@contextmanager
def _server(url: str, port: int, loop: str, http: str, workers: int) -> Iterator[str]:
    env = {**os.environ, "CT_DATABASE_URL": url, "CT_ENVIRONMENT": "development",
           "CT_PUBLIC_RATE_LIMIT": "1000000000/minute", "CT_TRUSTED_PROXIES": "127.0.0.1",
           "CT_API_POOL_MAX_SIZE": "4", "CT_RESOLVER_POOL_MAX_SIZE": "24"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.resolver:bench_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log", "--loop", loop, "--http", http, "--workers", str(workers)],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        _wait_for(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()  # a clean stop: the writer flushes what it holds
        server.wait(timeout=60)


_LUA = r"""
local paths = {}
local phones = %(phones)d
local near = %(near)s
function init(args)
  for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
function request()
  local path = paths[math.random(#paths)]
  if near then
    local lat, lon
    if math.random() < 0.8 then
      lat, lon = 22.6 + math.random() * 1.4, 112.9 + math.random() * 1.6
    else
      lat, lon = 22.0 + math.random() * 18.0, 104.0 + math.random() * 18.0
    end
    path = string.format("%%s&lat=%%.4f&lon=%%.4f&acc=50", path, lat, lon)
  end
  local phone = math.random(phones)
  local address = string.format("10.%%d.%%d.7", math.floor(phone / 256), phone %% 256)
  local headers = {["X-Forwarded-For"] = address,
                   ["Accept-Language"] = (phone %% 3 == 0) and "en" or "zh-CN,zh;q=0.9"}
  return wrk.format("GET", path, headers)
end
%(delay)s
function done(summary, latency, requests)
  local out = {requests = summary.requests, duration_us = summary.duration,
               errors = summary.errors.status + summary.errors.connect + summary.errors.read
                        + summary.errors.write + summary.errors.timeout,
               p50 = latency:percentile(50), p90 = latency:percentile(90),
               p99 = latency:percentile(99), max = latency.max}
  local parts = {}
  for k, v in pairs(out) do parts[#parts + 1] = string.format('"%%s": %%s', k, v) end
  io.write("WRK_JSON {" .. table.concat(parts, ", ") .. "}\n")
end
"""


@dataclass(frozen=True)
class Run:
    rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    requests: int

    @classmethod
    def combined(cls, runs: list[Run]) -> Run:
        """Several runs of one side as one: the rate over their total time, each latency
        percentile the worst of the runs (and p50 their median)."""
        requests = sum(r.requests for r in runs)
        seconds = sum(r.requests / r.rate for r in runs if r.rate > 0)
        return cls(
            requests / seconds if seconds else 0.0,
            statistics.median(r.p50_ms for r in runs), max(r.p90_ms for r in runs),
            max(r.p99_ms for r in runs), max(r.max_ms for r in runs),
            sum(r.errors for r in runs), requests,
        )  # fmt: skip

    def line(self) -> str:
        return (
            f"{self.rate:,.0f} req/s over {self.requests:,} requests ({self.errors} errors); "
            f"p50 {self.p50_ms:.1f} ms, p90 {self.p90_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
            f"max {self.max_ms:.1f} ms"
        )


def _wrk(
    base: str, script: Path, duration: float, connections: int, threads: int = 2
) -> Run:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s",
         "-s", str(script), base],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    data = json.loads(line.removeprefix("WRK_JSON "))
    return Run(
        data["requests"] / (data["duration_us"] / 1e6),
        data["p50"] / 1000, data["p90"] / 1000, data["p99"] / 1000, data["max"] / 1000,
        int(data["errors"]), int(data["requests"]),
    )  # fmt: skip


def _script(workdir: Path, name: str, paths: list[str], *, near: bool, delay_ms: float = 0) -> Path:
    listing = workdir / f"{name}.paths"
    listing.write_text("\n".join(paths) + "\n")
    delay = ""
    if delay_ms > 0:  # exponential gaps around the mean: no lockstep between connections
        delay = (f"function delay() return math.floor(-math.log(1 - math.random()) * "
                 f"{delay_ms:.3f}) end")  # fmt: skip
    script = workdir / f"{name}.lua"
    script.write_text(_LUA % {"phones": PHONES, "near": "true" if near else "false",
                              "paths": listing, "delay": delay})  # fmt: skip
    return script


def _check_verdicts(url: str, codes: list[IssuedCode], sample: int) -> tuple[int, int, int]:
    """Replay every stored scan of ``sample`` scanned codes; (codes, scans, mismatches)."""
    from cloud.provenance.brands import brand_thresholds, unit_epc
    from cloud.provenance.clone import Scan
    from cloud.provenance.codes import check_code
    from cloud.provenance.geo import GeoPoint
    from cloud.provenance.keys import Keyring
    from cloud.provenance.passports import compute_passport
    from cloud.provenance.scanstate import ScanState
    from cloud.provenance.verdicts import judge_scan

    by_serial = {c.serial: c for c in codes}
    mismatches = checked = scans = 0
    with psycopg.connect(url, autocommit=True) as conn:
        keyring_rows = conn.execute(
            "SELECT kid, public_key, created_at FROM brand_keys"
        ).fetchall()
        from cloud.provenance.keys import BrandKey

        keyring = Keyring(tuple(BrandKey(r[0], r[1], r[2].isoformat(), None) for r in keyring_rows))
        limits = brand_thresholds(conn, "acme")
        serials = [r[0] for r in conn.execute(
            "SELECT serial FROM unit_scan_state WHERE tenant_id = 'acme' ORDER BY random()"
            " LIMIT %s", (sample,)).fetchall()]  # fmt: skip
        for serial in serials:
            code = by_serial[serial]
            check = check_code(code.code.uri, keyring)
            epc = unit_epc(code.link)
            passport = compute_passport(conn, "acme", epc, gtin=GTIN, lot="L1", serial=serial)
            rows = conn.execute(
                "SELECT id, scanned_at, lat, lon, accuracy_km, region, client, verdict, confirmed"
                " FROM consumer_scans WHERE tenant_id = 'acme' AND gtin = %s AND serial = %s"
                " ORDER BY id",
                (GTIN, serial),
            ).fetchall()
            state = ScanState()
            for r in rows:
                point = None if r[2] is None else GeoPoint(r[2], r[3], r[4])
                scan = Scan(r[1], point, r[5], scan_id=str(r[0]), client=r[6])
                verdict = judge_scan(check, passport.unit, state, scan, limits)
                if (verdict.kind.value, verdict.confirmed) != (r[7], r[8]):
                    mismatches += 1
                state = state.add(scan, verdict.clone_flag)
            stored = conn.execute(
                "SELECT scans FROM unit_scan_state WHERE tenant_id = 'acme' AND gtin = %s"
                " AND serial = %s", (GTIN, serial)).fetchone()  # fmt: skip
            if stored is None or int(stored[0]) != len(rows):
                mismatches += 1
            checked += 1
            scans += len(rows)
    return checked, scans, mismatches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=20_000)
    parser.add_argument("--units", type=int, default=2_000, help="codes with custody")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument(
        "--rounds", type=int, default=5,
        help="ceiling and resolver take turns this many times, --duration in all each",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sample", type=int, default=200, help="codes whose verdicts replay")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (both servers)")
    args = parser.parse_args()
    slice_s = args.duration / max(1, args.rounds)
    turns: list[float] = []
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (scripts/bootstrap.sh)")
    workdir = Path(tempfile.mkdtemp(prefix="ct-bench-resolver-"))
    workdir.chmod(0o755)
    try:
        with start_postgres(workdir / "pg", fast=False) as pg:
            url = pg.create_database("bench")
            migrate(url)
            port = free_port()
            host = f"127.0.0.1:{port}"  # codes are verified against the Host they reach
            say(f"issuing and recording {args.codes} codes ...")
            codes = _setup(url, workdir / "keys", args.codes, args.units, host)
            uris = [c.code.uri.removeprefix(f"https://{host}") for c in codes]
            # scanned codes: mostly those with custody (their passports computed after the
            # capture, as the provenance.passports job does), a tenth issued only
            scanned = uris[: args.units] + uris[args.units : args.units + args.units // 10]
            ceiling_paths = [f"/bench/ceiling/{GTIN}/{c.serial}" for c in codes]
            ceiling_script = _script(workdir, "ceiling", ceiling_paths, near=False)
            scan_script = _script(workdir, "scan", scanned, near=True)
            results: dict[str, Run] = {}
            with _server(url, port, "uvloop", "httptools", args.workers) as base:
                say("warming up ...")
                _wrk(base, ceiling_script, 2, args.connections)
                _wrk(base, scan_script, 2, args.connections)
                say("ceiling: one indexed point select ...")
                # Interleaved: this machine's speed drifts within seconds (±15 % between
                # consecutive runs), so each side gets `--rounds` slices taking turns.
                ceiling_runs: list[Run] = []
                resolver_runs: list[Run] = []
                for turn in range(args.rounds):
                    say(f"ceiling and resolver at their maximum rates, round {turn + 1} of "
                        f"{args.rounds} ...")  # fmt: skip
                    ceiling_runs.append(_wrk(base, ceiling_script, slice_s, args.connections))
                    resolver_runs.append(_wrk(base, scan_script, slice_s, args.connections))
                results["ceiling"] = Run.combined(ceiling_runs)
                results["resolver"] = Run.combined(resolver_runs)
                turns = [r.rate / c.rate for c, r in zip(ceiling_runs, resolver_runs, strict=True)]
                half_rate = results["resolver"].rate / 2
                # connections x 1000 / (delay + latency) = half the maximum rate: a short run
                # measures the latency at that pace, then the delay is set from it
                pace = args.connections * 1000 / half_rate
                trial = _wrk(base, _script(workdir, "trial", scanned, near=True, delay_ms=pace),
                             3, args.connections)  # fmt: skip
                latency = args.connections * 1000 / trial.rate - pace  # mean, per request
                pace = max(1.0, args.connections * 1000 / half_rate - latency)
                paced = _script(workdir, "paced", scanned, near=True, delay_ms=pace)
                say(f"resolver at half its maximum ({half_rate:,.0f} req/s) ...")
                results["half"] = _wrk(base, paced, args.duration, args.connections)
                with httpx.Client(base_url=base) as http:  # a scan's JSON answer, for the eye
                    sample = http.get(scanned[0], headers={"Accept": "application/json"})
                    say(f"sample answer: {sample.status_code} {sample.json()['verdict']}")
            say("the same with the asyncio loop and h11 ...")
            with _server(url, port, "asyncio", "h11", args.workers) as base:
                _wrk(base, scan_script, 2, args.connections)
                results["plain"] = _wrk(base, scan_script, args.duration, args.connections)
            say(f"replaying the verdicts of {args.sample} codes ...")
            checked, replayed, mismatches = _check_verdicts(url, codes, args.sample)
            with psycopg.connect(url) as conn:
                row = conn.execute(
                    "SELECT (SELECT count(*) FROM consumer_scans),"
                    " (SELECT sum(scans) FROM unit_scan_state),"
                    " (SELECT count(*) FROM consumer_scans WHERE verdict = 'genuine'),"
                    " (SELECT count(*) FROM consumer_scans WHERE verdict = 'genuine_seen_before')"
                ).fetchone()
            assert row is not None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ceiling, resolver, half, plain = (results[k] for k in ("ceiling", "resolver", "half", "plain"))
    print(f"machine: {os.cpu_count()} cores; PostgreSQL fsync on; {args.workers} uvicorn "
          f"worker(s) (uvloop, httptools); wrk -t2 -c{args.connections} -d{args.duration:g}s "
          "on the same machine")  # fmt: skip
    print(f"ceiling  (one indexed point select on trace_codes): {ceiling.line()}")
    print(f"resolver (verdict page, HTML, scan recorded):       {resolver.line()}")
    print(f"ratio resolver / ceiling: {resolver.rate / ceiling.rate:.0%} "
          f"(round by round: {', '.join(f'{x:.0%}' for x in turns)})")  # fmt: skip
    print(f"resolver at half its maximum (target {resolver.rate / 2:,.0f} req/s): {half.line()}")
    print(f"resolver with asyncio + h11 instead of uvloop + httptools: {plain.line()} "
          f"(uvloop + httptools: {resolver.rate / plain.rate:.2f}x)")
    print(f"scans stored: {row[0]:,} (summaries hold {row[1]:,}); genuine {row[2]:,}, "
          f"seen before {row[3]:,}")
    print(f"verdicts replayed: {replayed:,} scans of {checked} codes, {mismatches} mismatches")


if __name__ == "__main__":
    main()

"""Demo phase: provenance. The brand registers its GS1 company prefix (the API), a lot of
wine is commissioned, shipped and received (EPCIS 2.0 captured into the Merkle log), the
log is checkpointed and anchored on the dev chain, a proof bundle is verified trusting only
the chain and the log key, consumers scan signed trace codes (genuine, seen before, cloned,
forged, diverted; a suspicion one phone raises alone is unconfirmed until another phone
corroborates it; unsigned copies never touch a genuine bottle's verdict), and a row edited
behind the log's back is caught by the audit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from channeltrace.demo_api import ApiClient
from channeltrace.demo_fleet import TENANT

__all__ = ["run_provenance"]

RESOLVER = "trace.acme-wines.example"
PREFIX = "9506000"  # the brand's GS1 company prefix: its GTINs, SSCCs and locations
GTIN = "09506000134352"
LOT = "L2026-11"
FACTORY = "urn:epc:id:sgln:9506000.00010.0"
WH_SHANGHAI = "urn:epc:id:sgln:9506000.00020.0"
DIST_EAST = "urn:epc:id:pgln:9506000.00001"
SHANGHAI, BEIJING, GUANGZHOU = (31.2304, 121.4737), (39.9042, 116.4074), (23.1291, 113.2644)
Section = tuple[str, list[str]]


def _document(units: list[str]) -> dict[str, Any]:
    now = datetime.now(UTC)

    def event(kind: str, minutes_ago: int, **fields: Any) -> dict[str, Any]:
        at = (now - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return {"type": kind, "eventTime": at, "eventTimeZoneOffset": "+08:00", **fields}

    to_east = {"destinationList": [{"type": "owning_party", "destination": DIST_EAST},
                                   {"type": "location", "destination": WH_SHANGHAI}]}  # fmt: skip
    where = {"readPoint": {"id": FACTORY}, "bizLocation": {"id": FACTORY}}
    at_wh = {"readPoint": {"id": WH_SHANGHAI}, "bizLocation": {"id": WH_SHANGHAI}}
    events = [
        event("ObjectEvent", 50, epcList=units, action="ADD", bizStep="commissioning", **where),
        event("ObjectEvent", 40, epcList=units, action="OBSERVE", bizStep="shipping",
              disposition="in_transit", **where, **to_east),
        event("ObjectEvent", 5, epcList=units, action="OBSERVE", bizStep="receiving",
              disposition="in_progress", **at_wh, **to_east),
    ]  # fmt: skip
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "epcisBody": {"eventList": events},
    }


def _anchor(database_url: str, chain_url: str | None) -> tuple[list[str], Any]:
    import psycopg

    from ledger.service.anchor import Web3Anchorer, deploy_anchor_contract
    from ledger.service.jobs import anchor_latest, make_checkpoint
    from ledger.service.keys import DEV_ANCHOR_PRIVATE_KEY, DEV_LOG_KEY

    lines = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        checkpoint = make_checkpoint(conn, DEV_LOG_KEY)
        assert checkpoint is not None
        lines.append(f"signed checkpoint: size {checkpoint.size} (C2SP tlog-checkpoint)")
        if chain_url is None:
            return lines, None
        contract = deploy_anchor_contract(chain_url, DEV_ANCHOR_PRIVATE_KEY)
        anchorer = Web3Anchorer(chain_url, contract, DEV_ANCHOR_PRIVATE_KEY)
        outcome = anchor_latest(conn, anchorer)
        tx = outcome.tx_hash.hex() if outcome.tx_hash else "?"
        lines.append(f"anchored root of size {outcome.size} on chain {anchorer.chain_id()}: "
                     f"tx 0x{tx[:16]}… (contract {contract[:10]}…)")  # fmt: skip
    return lines, contract


def _verify_bundle(api: ApiClient, chain_url: str, contract: str) -> list[str]:
    from ledger.bundle import ProofBundle
    from ledger.service.anchor import Web3Chain
    from ledger.service.keys import DEV_LOG_KEY
    from ledger.verify import verify_bundle

    bundle = ProofBundle.from_dict(api.get("/ledger/entries/0/bundle"))
    report = verify_bundle(bundle, DEV_LOG_KEY.verifier(), Web3Chain(chain_url), contract=contract)
    checks = ", ".join(f"{c.name} {'ok' if c.ok else 'FAIL'}" for c in report.checks)
    return [f"proof bundle of entry 0 verified with only the RPC and the log key: "
            f"{'VALID' if report.ok else 'INVALID'} ({checks})"]  # fmt: skip


def _codes(database_url: str, workdir: Path) -> list[Any]:
    import psycopg

    from cloud.provenance.brands import record_issued_codes, register_brand_key
    from cloud.provenance.issue import IssueRequest, issue_codes
    from cloud.provenance.keys import create_brand_key, load_private_key
    from wire.gs1 import Gtin

    key_path, entry = create_brand_key(workdir / "brand-keys")
    codes = list(issue_codes(IssueRequest(RESOLVER, Gtin(GTIN), LOT, count=4),
                             load_private_key(key_path)))  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn:
        register_brand_key(conn, TENANT, entry)
        record_issued_codes(conn, TENANT, "demo-batch", codes, LOT)
    return codes


# Phones, as the TLS proxy in front of the resolver forwards their addresses (the demo's
# client plays that proxy): two phones on two networks are two independent scanners.
PHONE_A, PHONE_B, PHONE_C = "198.51.100.20", "203.0.113.41", "192.0.2.77"


def _scan(api: ApiClient, uri: str, point: tuple[float, float] | None = None,
          region: str | None = None, phone: str = PHONE_A) -> dict[str, Any]:  # fmt: skip
    parts = urlsplit(uri)
    query = parts.query
    if point is not None:
        query = (query + "&" if query else "") + urlencode(
            {"lat": point[0], "lon": point[1], "acc": 30}
        )
    headers = {"Host": RESOLVER, "X-Forwarded-For": phone}
    if region is not None:  # as the edge proxy in front of the resolver would add it
        headers["X-Region"] = region
    answer: dict[str, Any] = api.get(f"{parts.path}?{query}", headers=headers)
    return answer


def _scans(api: ApiClient, codes: list[Any]) -> list[str]:
    def show(label: str, answer: dict[str, Any]) -> str:
        verdict = answer["verdict"] + ("" if answer.get("confirmed", True) else " (unconfirmed)")
        reason = answer.get("reason") or ""
        return f"{label:50s} → {verdict:34s} {reason[:70]}"

    genuine, cloned, diverted, fourth = (c.code.uri for c in codes[:4])
    forged = genuine.replace(f"/21/{codes[0].link.serial}", "/21/FAKE00000001")
    unsigned = codes[3].link.uri  # the printed link without its signature
    lines = [
        show("bottle 1 scanned in a Shanghai shop", _scan(api, genuine, SHANGHAI)),
        show("bottle 1 scanned again at home", _scan(api, genuine, SHANGHAI)),
        show("bottle 2 scanned in Shanghai", _scan(api, cloned, SHANGHAI)),
        show("bottle 2, same phone, in Beijing a minute later", _scan(api, cloned, BEIJING)),
        show("bottle 2, another phone, in Beijing",
             _scan(api, cloned, BEIJING, phone=PHONE_B)),
        show("bottle 3 seen in Guangdong (sold to East China)",
             _scan(api, diverted, GUANGZHOU, region="CN-GD")),
        show("bottle 3 seen in Guangdong by another phone",
             _scan(api, diverted, GUANGZHOU, region="CN-GD", phone=PHONE_C)),
        show("a code with a forged serial", _scan(api, forged, SHANGHAI)),
    ]  # fmt: skip
    for _ in range(20):  # a copier floods bottle 4's code, unsigned, from Beijing
        _scan(api, unsigned, BEIJING, phone=PHONE_C)
    lines += [
        show("bottle 4's code without signature, 20x in Beijing",
             _scan(api, unsigned, BEIJING, phone=PHONE_C)),
        show("bottle 4 then scanned in a Shanghai shop", _scan(api, fourth, SHANGHAI)),
    ]  # fmt: skip
    return lines


def _tamper_and_audit(database_url: str) -> list[str]:
    import psycopg

    from ledger.service.jobs import audit
    from ledger.service.keys import DEV_LOG_KEY

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE ledger_entries SET event = jsonb_set(event, '{bizStep}', '\"destroying\"'),"
            " canonical = convert_to(replace(convert_from(canonical, 'UTF8'), 'shipping',"
            " 'destroying'), 'UTF8') WHERE idx = 1"
        )
        report = audit(conn, DEV_LOG_KEY.verifier())
    found = "; ".join(f"index {f.index}: {f.kind}" for f in report.findings[:3])
    return [f"someone edits ledger row 1 in PostgreSQL → audit: {found or 'nothing found'}"]


def run_provenance(
    database_url: str, chain_url: str | None, api: ApiClient, workdir: Path, say: Any
) -> list[Section]:

    say("provenance: issuing signed trace codes, capturing EPCIS custody events ...")
    # The product, distributors, sites and EPCIS mappings are the channel the demo imported
    # from channeltrace/data/channel.csv (demo_channel.py); the brand registers the company
    # prefix it captures and issues under (identifiers are owned: docs/provenance.md).
    prefix = api.post(f"/v1/tenants/{TENANT}/prefixes", {"prefix": PREFIX})
    codes = _codes(database_url, workdir)
    captured = api.post(f"/epcis/capture?tenant={TENANT}", _document([c.link.uri for c in codes]))
    ledger_lines = [
        f"GS1 company prefix {prefix['prefix']} registered to {TENANT} (its API key)",
        f"captured {len(captured.get('events', []))} EPCIS events into the log",
    ]
    anchor_lines, contract = _anchor(database_url, chain_url)
    ledger_lines += anchor_lines
    if chain_url is not None and contract is not None:
        ledger_lines += _verify_bundle(api, chain_url, contract)
    scan_lines = _scans(api, codes)
    sample = codes[0].code.uri
    scan_lines.append(f"(a printed code looks like {sample[:60]}…)")
    ledger_lines += _tamper_and_audit(database_url)
    (workdir / "codes.json").write_text(json.dumps([c.code.uri for c in codes], indent=1))
    return [("Provenance ledger", ledger_lines), ("Consumer scans", scan_lines)]

"""EPCIS 2.0 validation speed: the project's models against the official schema (baseline).

    python -m bench.epcis [--events 1000] [--repeat 5] [--schema PATH]

Validates one EPCISDocument of N events (object events with sensor reports, aggregations,
transactions, in turn) with :func:`cloud.provenance.epcis.document_issues`, and the same
document with jsonschema's Draft7Validator over GS1's schema with the date-time and uri
format checkers — what capture did before — when jsonschema (dev extra) and the schema file
(default ``../shared/standards/epcis/`` beside the repository) are there. Also times a
hostile one-megabyte URI and normalisation (the next step of capture). Prints figures;
asserts nothing (DESIGN: benchmarks print, tests never time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloud.provenance.epcis import document_issues
from cloud.provenance.epcis_formats import is_uri
from cloud.provenance.events import EPCIS_CONTEXT, normalise_document

_DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "shared/standards/epcis"
_DEFAULT_SCHEMA /= "EPCIS-JSON-Schema.json"
_SITE = "urn:epc:id:sgln:9506000.00020.0"
_PO = "urn:epcglobal:cbv:bt:9506000000001:"


def _event(n: int) -> dict[str, Any]:
    when = {
        "eventTime": f"2025-03-01T08:{n // 60 % 60:02d}:{n % 60:02d}.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "eventID": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        "readPoint": {"id": _SITE},
        "bizLocation": {"id": _SITE},
    }
    unit = f"https://id.gs1.org/01/09506000134352/21/{n}"
    if n % 3 == 1:
        return {
            "type": "AggregationEvent",
            **when,
            "action": "ADD",
            "bizStep": "packing",
            "parentID": f"urn:epc:id:sscc:9506000.{n:010d}",
            "childEPCs": [unit, f"{unit}0", f"{unit}1"],
        }
    if n % 3 == 2:
        return {
            "type": "TransactionEvent",
            **when,
            "action": "ADD",
            "bizStep": "shipping",
            "disposition": "in_transit",
            "epcList": [unit],
            "bizTransactionList": [{"type": "po", "bizTransaction": f"{_PO}{n}"}],
            "destinationList": [
                {"type": "owning_party", "destination": "urn:epc:id:pgln:9506000.00001"}
            ],
        }
    return {
        "type": "ObjectEvent",
        **when,
        "action": "OBSERVE",
        "bizStep": "storing",
        "disposition": "sellable_accessible",
        "epcList": [unit],
        "sensorElementList": [
            {
                "sensorMetadata": {"time": when["eventTime"], "deviceID": "urn:epc:id:giai:95.1"},
                "sensorReport": [
                    {"type": "Temperature", "minValue": 4.1, "maxValue": 6.5, "uom": "CEL"},
                    {"type": "RelativeHumidity", "value": 61.5, "uom": "A93"},
                ],
            }
        ],
    }


def document(events: int) -> dict[str, Any]:
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2025-03-01T09:00:00Z",
        "epcisBody": {"eventList": [_event(n) for n in range(events)]},
    }


def _best(repeat: int, run: Callable[[], object]) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def _print(label: str, repeat: int, run: Callable[[], object], events: int) -> None:
    best, median = _best(repeat, run)
    rate = f"{events / best:,.0f} events/s"
    print(f"{label:42s} best {best * 1000:8.1f} ms  median {median * 1000:8.1f} ms  ({rate})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--schema", type=Path, default=_DEFAULT_SCHEMA)
    args = parser.parse_args()
    doc = json.loads(json.dumps(document(args.events)))  # plain JSON values, as from a request
    assert document_issues(doc) == ()
    n, repeat = args.events, args.repeat
    _print("project models (document_issues)", repeat, lambda: document_issues(doc), n)
    try:
        from jsonschema import Draft7Validator
    except ImportError:
        print("jsonschema baseline: skipped (jsonschema is in the dev extra)")
    else:
        if args.schema.is_file():
            schema = json.loads(args.schema.read_text(encoding="utf-8"))
            checker = Draft7Validator.FORMAT_CHECKER
            validator = Draft7Validator(schema, format_checker=checker)
            assert not list(validator.iter_errors(doc))
            baseline = "official schema (jsonschema, baseline)"
            _print(baseline, repeat, lambda: list(validator.iter_errors(doc)), n)
        else:
            print(f"jsonschema baseline: skipped ({args.schema} not found)")
    _print("normalise_document (next capture step)", repeat, lambda: normalise_document(doc), n)
    hostile = "http://" + "a" * 1_000_000 + " "
    start = time.perf_counter()
    assert not is_uri(hostile)
    scan = time.perf_counter()
    hostile.count(" ")
    end = time.perf_counter()
    refused, count = (scan - start) * 1000, (end - scan) * 1000
    print(f"{'hostile 1 MB URI refused in':42s} {refused:8.1f} ms  (str.count: {count:.1f} ms)")


if __name__ == "__main__":
    main()

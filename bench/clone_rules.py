"""Clone rules: time to judge one code's kept scans, beside the plain pairwise rules.

Run: ``.venv/bin/python bench/clone_rules.py [--repeat 100]``. Prints figures; asserts
nothing (machine speed varies from day to day: compare the columns of one run).

Every consumer scan of a verified code runs the clone rules (impossible travel, too many
places, too many scans: :func:`cloud.provenance.clone.clone_rules`) over the code's kept
scans, up to RECENT_SCANS + EARLY_CLIENTS of them. The baseline is the same rules as first
written, every pair compared and every window rebuilt (``tests/cloud/provenance/
_clone_reference.py``, the oracle the tests check them against), on the same histories:

- a code scanned around one town over a week (a popular genuine product);
- a code scanned across a province within 10 hours;
- a clone attack: scans all over the country within 10 minutes (every pair compared).
"""

from __future__ import annotations

import argparse
import random
import sys
import timeit
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud.provenance.clone import EARLY_CLIENTS, RECENT_SCANS, Scan, Thresholds, clone_rules  # noqa: E402
from cloud.provenance.geo import GeoPoint  # noqa: E402
from tests.cloud.provenance import _clone_reference as plain  # noqa: E402

T0 = datetime(2026, 12, 1, tzinfo=UTC)
CASES = (
    ("one town, a week", timedelta(days=7), 0.1),
    ("a province, 10 h", timedelta(hours=10), 1.5),
    ("the country, 10 min (a clone attack)", timedelta(minutes=10), 18.0),
)


def history(n: int, span: timedelta, degrees: float, seed: int = 3) -> list[Scan]:
    rng = random.Random(seed)
    return [
        Scan(
            T0 + span * rng.random(),
            GeoPoint(
                round(22.0 + rng.random() * degrees, 2),
                round(104.0 + rng.random() * degrees, 2),
                0.85,
            ),
            scan_id=str(i),
            client=f"c{rng.randrange(50)}",
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    limits = Thresholds()
    print(f"{'history':40} {'scans':>5} {'clone rules':>12} {'plain rules':>12} {'speed-up':>9}")
    for label, span, degrees in CASES:
        for n in (5, 20, RECENT_SCANS + EARLY_CLIENTS):
            scans = history(n, span, degrees)

            def fast(scans: list[Scan] = scans) -> object:
                return clone_rules(scans, limits)

            def baseline(scans: list[Scan] = scans) -> object:
                return (plain.impossible_travel(scans, limits), plain.most_places(scans, limits),
                        plain.busiest_window(scans, limits))  # fmt: skip

            new = timeit.timeit(fast, number=args.repeat) / args.repeat * 1e6
            old = timeit.timeit(baseline, number=args.repeat) / args.repeat * 1e6
            print(f"{label:40} {n:>5} {new:>9,.0f} µs {old:>9,.0f} µs {old / new:>8.1f}x")


if __name__ == "__main__":
    main()

"""TimescaleDB policy jobs that keep failing (``storage_job_failing``).

On TimescaleDB, rollups, compression and retention are background jobs inside
PostgreSQL; when they fail, dashboards go stale and disks fill without anything of ours
failing. One condition per tenant (the storage serves every tenant, like the ledger)
lists every failing job; it clears once none is failing. What to do is in
docs/operations.md, "TimescaleDB jobs".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from cloud.alerts.model import AlertKind, Condition, Severity
from cloud.storage.job_health import FAILURES_IN_A_ROW, TimescaleJob, failing

__all__ = ["storage_job_conditions"]

_KEY = "timescaledb-jobs"


def _since(jobs: Sequence[TimescaleJob], now: datetime) -> datetime:
    starts = [j.failing_since or j.last_run_started for j in jobs]
    known = [s for s in starts if s is not None]
    return min(known) if known else now


def storage_job_conditions(
    jobs: Iterable[TimescaleJob],
    tenants: Iterable[str],
    *,
    now: datetime,
    in_a_row: int = FAILURES_IN_A_ROW,
) -> list[Condition]:
    """One ``storage_job_failing`` condition per tenant while any job keeps failing."""
    bad = failing(jobs, in_a_row)
    if not bad:
        return []
    errors = sorted({j.last_error for j in bad if j.last_error})
    summary = f"{len(bad)} TimescaleDB job(s) keep failing: " + ", ".join(j.label for j in bad)
    if errors:
        summary += f" ({errors[0]})"
    evidence = [
        {
            "job_id": j.job_id,
            "job": j.name,
            "proc": j.proc,
            "relation": j.relation,
            "consecutive_failures": j.consecutive_failures,
            "total_failures": j.total_failures,
            "last_success": None if j.last_success is None else j.last_success.isoformat(),
            "next_start": None if j.next_start is None else j.next_start.isoformat(),
            "last_error": j.last_error,
        }
        for j in bad
    ]
    since = _since(bad, now)
    return [
        Condition(
            kind=AlertKind.STORAGE_JOB_FAILING,
            tenant_id=tenant,
            key=_KEY,
            severity=Severity.WARNING,
            since=since,
            summary=summary,
            details={"jobs": [j.label for j in bad], "errors": errors, "in_a_row": in_a_row},
            evidence=evidence,
        )
        for tenant in tenants
    ]

"""Every SQL query of the Grafana dashboards runs on a migrated PostgreSQL, as Grafana's role.

A private server (roles are cluster-wide): migrate, run the TimescaleDB image's init script
deploy/timescaledb/initdb/10-grafana-reader.sh with psql as the image would, then run each
panel and variable query as ``ct_grafana`` with Grafana's macros expanded the way its
PostgreSQL data source expands them. On both storage backends: plain PostgreSQL
(readings_1m/1h are tables) and the real TimescaleDB of tests/plugins/timescale.py
(continuous aggregates, with Grafana's TimescaleDB macros as deploy/grafana enables them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

import psycopg
import pytest

from channeltrace.services import Postgres
from cloud.migrate import migrate
from tests.deploy import _deploy as d
from tests.deploy.test_monitoring import DASHBOARDS, panels

pytestmark = pytest.mark.integration

INIT_SCRIPT = d.DEPLOY / "timescaledb" / "initdb" / "10-grafana-reader.sh"
FROM, TO = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
# Values the dashboard variables take in these queries (multi-value: Grafana quotes them).
VARIABLES = {"tenant": "acme", "site": "'wh-1','wh-2'"}


def _seconds(interval: str) -> int:
    match = re.fullmatch(r"'?(\d+)([smhd])'?", interval.strip())
    assert match, f"interval {interval!r}"
    return int(match.group(1)) * _UNITS[match.group(2)]


def expand(sql: str, interval: str = "1m", *, timescaledb: bool = False) -> str:
    """``sql`` as Grafana's PostgreSQL data source sends it (macros, then variables).

    ``timescaledb``: the data source's TimescaleDB option (on in deploy/grafana), under which
    Grafana groups time with ``time_bucket`` instead of epoch arithmetic.
    """
    sql = sql.replace("$__interval_ms", str(_seconds(interval) * 1000))
    sql = sql.replace("$__interval", interval)
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"\1 BETWEEN '{FROM}' AND '{TO}'", sql)
    sql = sql.replace("$__timeFrom()", f"'{FROM}'").replace("$__timeTo()", f"'{TO}'")

    def group(match: re.Match[str]) -> str:
        column, step = (part.strip() for part in match.group(2).split(",")[:2])
        n = _seconds(step)
        alias = ' AS "time"' if match.group(1) == "Alias" else ""
        if timescaledb:
            return f"time_bucket('{n}s', {column}){alias}"
        return f"floor(extract(epoch from {column})/{n})*{n}{alias}"

    sql = re.sub(r"\$__timeGroup(Alias)?\(([^)]+)\)", group, sql)
    for name, value in VARIABLES.items():
        sql = re.sub(rf"\$\{{{name}\}}|\${name}\b", value, sql)
    assert "$" not in sql, f"unexpanded macro or variable in:\n{sql}"
    return sql


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, sql) of every SQL panel target and variable of every dashboard."""
    found = []
    for path in DASHBOARDS:
        dashboard: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        for panel in panels(dashboard):
            for target in panel["targets"]:
                if "rawSql" in target:
                    found.append((f"{path.stem}: {panel['title']}", target["rawSql"]))
        for variable in dashboard["templating"]["list"]:
            if variable["datasource"]["uid"] == "ct-timescaledb":
                found.append((f"{path.stem}: ${variable['name']}", variable["query"]))
    return found


def test_macro_expansion_matches_grafana() -> None:
    sql = (
        "SELECT $__timeGroupAlias(t, $__interval), 1 FROM x WHERE $__timeFilter(t) AND s IN ($site)"
    )
    assert expand(sql, "5m") == (
        'SELECT floor(extract(epoch from t)/300)*300 AS "time", 1 FROM x '
        f"WHERE t BETWEEN '{FROM}' AND '{TO}' AND s IN ('wh-1','wh-2')"
    )
    assert expand("SELECT $__timeGroupAlias(t, '1h')", timescaledb=True) == (
        "SELECT time_bucket('3600s', t) AS \"time\""
    )
    assert len(dashboard_queries()) >= 15


@pytest.fixture(params=["postgresql", "timescaledb"])
def grafana_database(request: pytest.FixtureRequest) -> str:
    psql = shutil.which("psql") or shutil.which("psql", path="/usr/lib/postgresql/15/bin")
    if psql is None:
        d.missing_tool("psql not found (apt-get install -y postgresql-client)")
    if request.param == "timescaledb":
        server: Postgres = request.getfixturevalue("make_timescale")()
    else:
        server = request.getfixturevalue("make_postgres")(fast=True)
    owner_url = server.create_database("channeltrace")
    migrate(owner_url)
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(psql)}:{os.environ.get('PATH', '')}",
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "channeltrace",
        "GRAFANA_DB_PASSWORD": "grafana-test",
    }
    subprocess.run(["sh", str(INIT_SCRIPT)], env=env, check=True, capture_output=True)
    return f"postgresql://ct_grafana:grafana-test@{server.host}:{server.port}/channeltrace"


def test_every_dashboard_query_runs_as_the_grafana_role(grafana_database: str) -> None:
    failures = []
    with psycopg.connect(grafana_database, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("ct_grafana",)
        backend = conn.execute("SELECT backend FROM storage_backend").fetchone()
        timescaledb = backend == ("timescaledb",)
        for where, sql in dashboard_queries():
            try:
                conn.execute(expand(sql, timescaledb=timescaledb)).fetchall()
            except psycopg.Error as exc:
                failures.append(f"{where}: {exc}")
        # Read-only, whatever a dashboard editor types.
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO tenants (id, name) VALUES ('x', 'x')")
    assert failures == []

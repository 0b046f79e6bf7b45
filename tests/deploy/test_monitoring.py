"""Prometheus and Grafana files of deploy/: they parse, and they name what exists."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from cloud.api.metrics import ApiMetrics
from cloud.jobs import build_jobs
from cloud.jobs.timescale import TimescaleJobsCollector
from cloud.metrics import IngestMetrics
from cloud.scheduler_metrics import SchedulerMetrics
from cloud.settings import Settings
from cloud.storage.job_health import TimescaleJob
from tests.deploy import _deploy as d

PROMETHEUS = d.DEPLOY / "prometheus"
GRAFANA = d.DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
COMPOSE = d.load_compose()
SERVICES = d.services(COMPOSE)


def _yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), path
    return loaded


def _mounts(service: str) -> dict[str, str]:
    """Container path → source (relative to deploy/) of the service's bind mounts."""
    mounts = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        mounts[target] = source
    return mounts


TIMESCALE_JOB = TimescaleJob(
    job_id=1000, name="Refresh Continuous Aggregate Policy [1000]",
    proc="policy_refresh_continuous_aggregate", relation="readings_1m",
    schedule_interval=timedelta(minutes=1), scheduled=True, running=False, last_run_ok=False,
    consecutive_failures=3, total_runs=3, total_failures=3,
    last_run_started=datetime(2026, 1, 1, tzinfo=UTC),
    last_success=datetime(2025, 1, 1, tzinfo=UTC), next_start=datetime(2026, 1, 1, tzinfo=UTC),
    failing_since=None, last_error=None,
)  # fmt: skip


def exported_metric_names() -> set[str]:
    """Sample names the ingest, API and scheduler export (``_total``, ``_bucket``, ...)."""
    metrics = IngestMetrics.create(CollectorRegistry())
    metrics.messages.labels(outcome="stored").inc()
    metrics.rows.labels(table="readings").inc()
    metrics.dead_letters.labels(reason="bad_signature").inc()
    metrics.batch_seconds.observe(0.01)
    metrics.lag_seconds.observe(0.01)
    api = ApiMetrics.create(CollectorRegistry())
    api.observe("GET", "/v1/tenants/{tenant}/sites", 200, 0.01)
    # The TimescaleDB jobs' metrics come from the storage.timescale_jobs job's collector.
    [watcher] = [j for j in build_jobs(Settings()) if j.name == "storage.timescale_jobs"]
    assert isinstance(watcher.collector, TimescaleJobsCollector)
    watch = watcher.collector.watch
    watch.publish([TIMESCALE_JOB])
    scheduler = SchedulerMetrics.create(
        ["storage.partitions"], CollectorRegistry(), collectors=[watcher.collector]
    )
    scheduler.job_finished("storage.partitions", 0.1, ok=True)
    registries = (metrics.registry, api.registry, scheduler.registry)
    names = {s.name for reg in registries for family in reg.collect() for s in family.samples}
    return names | {"up"}


def _promql_metric_names(expr: str) -> set[str]:
    """Identifiers in ``expr`` that look like metric names (ours, and ``up``)."""
    return set(re.findall(r"\b(ct_[a-z0-9_]+|up)\b", expr))


# ------------------------------------------------------------------ Prometheus


def test_prometheus_config_is_mounted_and_scrapes_every_metrics_port() -> None:
    config = _yaml(PROMETHEUS / "prometheus.yml")
    mounts = _mounts("prometheus")
    assert mounts["/etc/prometheus/prometheus.yml"] == "./prometheus/prometheus.yml"
    for rule_file in config["rule_files"]:
        assert mounts[rule_file] == f"./prometheus/{Path(rule_file).name}"
    dns = d.dns_names(COMPOSE)
    scraped: dict[str, int] = {}
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            assert sd["type"] == "A"
            for name in sd["names"]:
                assert name in dns, f"job {job['job_name']} resolves unknown name {name}"
                for service in dns[name]:
                    scraped[service] = int(sd["port"])
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                assert host == "localhost" or host in SERVICES
                if host == "localhost":
                    assert job["job_name"] == "prometheus"
                    assert port == "9090"
                else:
                    scraped[host] = int(port)
    exporting = {
        name: int(env["CT_METRICS_PORT"])
        for name, service in SERVICES.items()
        if "CT_METRICS_PORT" in (env := d.environment(service))
    }
    assert exporting, "no service serves metrics"
    assert scraped == exporting
    for name, port in exporting.items():
        assert d.environment(SERVICES[name])["CT_METRICS_HOST"] == "0.0.0.0"
        published = {b.container_port for b in d.port_bindings(SERVICES[name])}
        assert port not in published, f"{name}: metrics stay on the backend network"


def test_prometheus_rules_use_exported_metrics() -> None:
    rules = _yaml(PROMETHEUS / "rules.yml")
    exported = exported_metric_names()
    seen = 0
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"]
            assert rule["annotations"]["summary"]
            assert rule["labels"]["severity"] in {"warning", "critical"}
            names = _promql_metric_names(rule["expr"])
            assert names, rule["expr"]
            assert names <= exported, f"{rule['alert']}: {names - exported} not exported"
            seen += 1
    assert seen >= 3


# ------------------------------------------------------------------ Grafana


def _datasources() -> dict[str, dict[str, Any]]:
    config = _yaml(GRAFANA / "provisioning" / "datasources" / "channeltrace.yml")
    return {ds["uid"]: ds for ds in config["datasources"]}


def test_grafana_provisioning_is_mounted_where_grafana_reads_it() -> None:
    mounts = _mounts("grafana")
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    provider = _yaml(GRAFANA / "provisioning" / "dashboards" / "channeltrace.yml")
    [entry] = provider["providers"]
    assert mounts[entry["options"]["path"]] == "./grafana/dashboards"


def test_grafana_datasources_point_at_compose_services() -> None:
    sources = _datasources()
    assert set(sources) == {"ct-prometheus", "ct-timescaledb"}
    prom = sources["ct-prometheus"]
    assert prom["type"] == "prometheus"
    assert prom["url"] == "http://prometheus:9090"
    assert "--config.file=/etc/prometheus/prometheus.yml" in SERVICES["prometheus"]["command"]
    pg = sources["ct-timescaledb"]
    assert pg["type"] == "grafana-postgresql-datasource"
    assert pg["url"] == "timescaledb:5432"
    assert pg["jsonData"]["database"] == SERVICES["timescaledb"]["environment"]["POSTGRES_DB"]
    # The password comes from Grafana's environment, which compose fills from deploy/.env.
    assert pg["secureJsonData"]["password"] == "${GRAFANA_DB_PASSWORD}"
    assert "GRAFANA_DB_PASSWORD" in SERVICES["grafana"]["environment"]
    init = (d.DEPLOY / "timescaledb" / "initdb" / "10-grafana-reader.sh").read_text()
    assert f"CREATE ROLE {pg['user']} " in init


def test_the_four_dashboards_exist() -> None:
    uids = {json.loads(p.read_text(encoding="utf-8"))["uid"] for p in DASHBOARDS}
    assert uids == {"ct-fleet-health", "ct-climate-site", "ct-ingest", "ct-anchoring"}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_is_valid_and_uses_provisioned_datasources(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    sources = _datasources()
    assert dashboard["title"]
    assert dashboard["uid"]
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    exported = exported_metric_names()
    for panel in panels(dashboard):
        assert panel["datasource"]["uid"] in sources
        for target in panel["targets"]:
            source = sources[target["datasource"]["uid"]]
            assert target["datasource"]["type"] == source["type"]
            if source["type"] == "prometheus":
                names = _promql_metric_names(target["expr"])
                assert names, target["expr"]
                assert names <= exported, f"{panel['title']}: {names - exported}"
            else:
                assert target["rawQuery"]
                assert target["rawSql"].strip()
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] in sources

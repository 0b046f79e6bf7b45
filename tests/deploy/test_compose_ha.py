"""deploy/compose.ha.yml over compose.yml, checked without Docker: the Patroni cluster, its
settings against the ones the failover tests run, the URLs every service uses, the second
broker and the ingest's broker list."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from channeltrace.ha import cluster_settings
from channeltrace.services import WRITE_HEAVY_SETTINGS
from tests.deploy import _deploy as d
from wire.broker import parse_mqtt_url

HA = d.DEPLOY / "compose.ha.yml"
PATRONI = d.DEPLOY / "patroni"
SCHEMA = Path(__file__).with_name("compose-spec.json")
NODES = ("timescaledb", "timescaledb-2", "timescaledb-3")
ETCD = ("etcd-1", "etcd-2", "etcd-3")
_REPLACED = {"command", "entrypoint", "test"}  # Compose replaces these when overriding


def _merge(base: Any, override: Any, key: str = "") -> Any:
    """Compose's merge of an override file: mappings merge, command-like lists are replaced,
    other lists are appended (without repeats)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = _merge(base[name], value, name) if name in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list) and key not in _REPLACED:
        return base + [item for item in override if item not in base]
    return override


def _load_ha() -> dict[str, Any]:
    env = d.read_env_file(d.DEPLOY / ".env.example")
    loaded = yaml.safe_load(d.interpolate(HA.read_text(encoding="utf-8"), env))
    assert isinstance(loaded, dict)
    return loaded


HA_FILE = _load_ha()
MERGED = _merge(d.load_compose(), HA_FILE)
SERVICES = d.services(MERGED)
OURS = {name: s for name, s in SERVICES.items() if d.runs_our_image(s)}


def _env(name: str) -> dict[str, str]:
    return d.environment(SERVICES[name])


def test_the_ha_file_matches_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    raw = yaml.safe_load(HA.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(raw), key=lambda e: e.path)
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []


def test_every_interpolated_variable_is_in_the_env_example() -> None:
    example = d.read_env_file(d.DEPLOY / ".env.example")
    assert d.variables(HA.read_text(encoding="utf-8")) <= set(example)
    with pytest.raises(KeyError, match="PATRONI_SUPERUSER_PASSWORD"):
        d.interpolate(HA.read_text(encoding="utf-8"), {"DB_PASSWORD": "x"})


def test_three_etcd_members_form_one_cluster_of_the_tested_minor() -> None:
    for name in ETCD:
        service = SERVICES[name]
        assert service["image"].rsplit(":", 1)[1].startswith("v3.4."), service["image"]
        env = _env(name)
        assert env["ETCD_NAME"] == name
        members = dict(m.split("=", 1) for m in env["ETCD_INITIAL_CLUSTER"].split(","))
        assert members == {m: f"http://{m}:2380" for m in ETCD}
        assert env["ETCD_INITIAL_ADVERTISE_PEER_URLS"] == members[name]
        assert env["ETCD_ADVERTISE_CLIENT_URLS"] == f"http://{name}:2379"
        assert not service.get("ports"), f"{name} must not be published"


def test_three_patroni_nodes_each_named_and_reachable_under_its_own_name() -> None:
    for name in NODES:
        service = SERVICES[name]
        assert service["image"] == "channeltrace-patroni:local"
        assert service.get("entrypoint", ["patroni"]) == ["patroni"]  # the image's, or set
        env = _env(name)
        assert env["PATRONI_NAME"] == name
        assert env["PATRONI_POSTGRESQL_CONNECT_ADDRESS"] == f"{name}:5432"
        assert env["PATRONI_RESTAPI_CONNECT_ADDRESS"] == f"{name}:8008"
        assert env["PATRONI_ETCD3_HOSTS"].split(",") == [f"{e}:2379" for e in ETCD]
        assert set(service["depends_on"]) >= set(ETCD)
        assert "8008/health" in " ".join(service["healthcheck"]["test"])
    # Node 1 is compose.yml's database service: Patroni replaces `postgres -c ...`.
    assert SERVICES["timescaledb"]["command"] == ["/etc/patroni/patroni.yml"]
    volumes = {tuple(v.split(":")[:2]) for n in NODES for v in SERVICES[n]["volumes"]
               if v.endswith("/home/postgres/pgdata")}  # fmt: skip
    assert len(volumes) == 3, "each node keeps its data in a volume of its own"


def _patroni_config() -> dict[str, Any]:
    loaded = yaml.safe_load((PATRONI / "patroni.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_patroni_runs_the_settings_of_the_failover_tests_with_production_timings() -> None:
    dcs = _patroni_config()["bootstrap"]["dcs"]
    tested = cluster_settings()
    for key in ("synchronous_mode", "synchronous_mode_strict", "synchronous_node_count",
                "primary_stop_timeout"):  # fmt: skip
        assert dcs[key] == tested[key], key
    for key in ("use_pg_rewind", "use_slots"):
        assert dcs["postgresql"][key] == tested["postgresql"][key], key
    parameters = {k: str(v) for k, v in dcs["postgresql"]["parameters"].items()}
    for key in ("wal_level", "hot_standby", "wal_log_hints", "synchronous_commit",
                "wal_sender_timeout", "wal_receiver_timeout", "hot_standby_feedback"):  # fmt: skip
        assert parameters[key] == str(tested["postgresql"]["parameters"][key]), key
    # Patroni's own defaults, within its rule loop_wait + 2 * retry_timeout <= ttl.
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (30, 10, 10)
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"]
    assert parameters["shared_preload_libraries"] == "timescaledb"
    for key, value in WRITE_HEAVY_SETTINGS.items():
        if key != "shared_buffers":  # sized for the database host, as in compose.yml
            assert parameters[key] == value, key


def test_the_first_node_creates_the_roles_compose_yml_creates() -> None:
    config = _patroni_config()
    assert config["bootstrap"]["post_bootstrap"] == "/usr/local/bin/ct-post-bootstrap"
    script = (PATRONI / "post_bootstrap.sh").read_text(encoding="utf-8")
    single = (d.DEPLOY / "timescaledb" / "initdb" / "10-grafana-reader.sh").read_text()
    assert "CREATE ROLE channeltrace LOGIN SUPERUSER" in script
    assert "CREATE DATABASE channeltrace OWNER channeltrace" in script
    for line in single.splitlines():
        if line.startswith(("CREATE ROLE ct_grafana", "GRANT ", "ALTER ROLE ct_grafana")):
            assert line.replace(":'pw'", ":'grafana_pw'") in script, line
    assert os.access(PATRONI / "post_bootstrap.sh", os.X_OK)
    dockerfile = (PATRONI / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM timescale/timescaledb:2.28.3-pg15" in dockerfile
    assert '"patroni[etcd3]==3.0.2"' in dockerfile


def _hosts(url: str) -> list[str]:
    params = conninfo_to_dict(url)
    return [f"{h}:{p}" for h, p in zip(str(params["host"]).split(","),
                                       str(params["port"]).split(","), strict=True)]  # fmt: skip


@pytest.mark.parametrize("name", sorted(OURS))
def test_every_cloud_service_names_the_three_nodes_for_writes(name: str) -> None:
    url = _env(name)["CT_DATABASE_URL"]
    assert _hosts(url) == [f"{n}:5432" for n in NODES]
    assert conninfo_to_dict(url)["target_session_attrs"] == "read-write"


def test_the_api_reads_from_replicas_within_a_bound() -> None:
    env = _env("api")
    url = env["CT_DATABASE_READ_URL"]
    assert _hosts(url) == [f"{n}:5432" for n in NODES]
    assert conninfo_to_dict(url)["target_session_attrs"] == "prefer-standby"
    assert float(env["CT_DATABASE_READ_MAX_LAG_SECONDS"]) > 0


@pytest.mark.parametrize("name", sorted(OURS))
def test_every_settings_class_accepts_the_ha_environment(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert d.settings_problems_under(_env(name), monkeypatch) == []


def test_ingest_workers_consume_both_brokers_and_the_second_mirrors_the_first() -> None:
    for name in ("ingest-1", "ingest-2"):
        urls = _env(name)["CT_INGEST_MQTT_URLS"].split(",")
        brokers = [parse_mqtt_url(u) for u in urls]
        assert [(b.host, b.port) for b in brokers] == [("mosquitto", 1883), ("mosquitto-2", 1883)]
        assert all(b.username == "svc-ingest" for b in brokers)
        assert "mosquitto-2" in SERVICES[name]["depends_on"]
    first, second = SERVICES["mosquitto"], SERVICES["mosquitto-2"]
    assert first["image"] == second["image"]
    mounts = {v.split(":")[1] for v in second["volumes"]}
    assert {v.split(":")[1] for v in first["volumes"]} == mounts
    data = {v.split(":")[0] for s in (first, second) for v in s["volumes"]
            if v.split(":")[1] == "/mosquitto/data"}  # fmt: skip
    assert len(data) == 2, "each broker persists on its own volume"
    assert [(p.host_ip, p.host_port, p.container_port) for p in d.port_bindings(second)] == [
        (None, 8884, 8883)
    ]


def test_every_host_named_in_a_url_is_a_service() -> None:
    names = d.dns_names(MERGED)
    for name in OURS:
        env = _env(name)
        for key in ("CT_DATABASE_URL", "CT_DATABASE_READ_URL"):
            for host in _hosts(env[key]) if key in env else []:
                assert host.split(":")[0] in names, (name, key, host)
        brokers = env.get("CT_INGEST_MQTT_URLS")
        for url in brokers.split(",") if brokers else []:
            assert parse_mqtt_url(url).host in names


def _volumes_declared(compose: Mapping[str, Any]) -> set[str]:
    return set(compose.get("volumes", {}))


def test_named_volumes_are_declared() -> None:
    declared = _volumes_declared(MERGED)
    for name in (*NODES, *ETCD, "mosquitto-2"):
        for volume in SERVICES[name].get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, (name, source)

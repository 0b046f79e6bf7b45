"""deploy/compose.yml, checked without Docker: schema, commands, settings, ports, secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer.main

from channeltrace.cli import app
from tests.deploy import _deploy as d

SCHEMA = Path(__file__).with_name("compose-spec.json")
COMPOSE = d.load_compose()
SERVICES = d.services(COMPOSE)
OURS = {name: s for name, s in SERVICES.items() if d.runs_our_image(s)}
# Published on every interface on purpose: devices reach the broker over TLS.
PUBLIC_PORTS = {("mosquitto", 8883)}


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(d.raw_compose()), key=lambda e: e.path
    )
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []


def test_every_interpolated_variable_is_in_the_env_example() -> None:
    text = d.COMPOSE.read_text(encoding="utf-8")
    example = d.read_env_file(d.DEPLOY / ".env.example")
    assert d.variables(text) <= set(example)
    # Without a deploy/.env the required secrets stop compose instead of defaulting.
    with pytest.raises(KeyError, match="DB_PASSWORD"):
        d.load_compose(env={})


def test_the_cloud_services_are_all_there() -> None:
    commands = {name: tuple(s["command"][:2]) for name, s in OURS.items()}
    assert commands == {
        "migrate": ("cloud", "migrate"),
        "broker-files": ("cloud", "broker"),
        "ingest-1": ("cloud", "ingest"),
        "ingest-2": ("cloud", "ingest"),
        "api": ("cloud", "api"),
        "scheduler": ("cloud", "scheduler"),
        "ledger-deploy": ("ledger", "deploy"),
    }
    assert OURS["scheduler"]["deploy"]["replicas"] >= 2
    for one_shot in ("migrate", "broker-files", "ledger-deploy"):
        assert OURS[one_shot]["restart"] == "no"


def test_ingest_workers_share_a_group_with_stable_distinct_client_ids() -> None:
    # A client id that changes when compose recreates a container (the default: the
    # hostname) would leave the old persistent session queueing its share of the stream.
    workers = {name: s for name, s in OURS.items() if s["command"][:2] == ["cloud", "ingest"]}
    assert len(workers) >= 2
    ids = [d.environment(s).get("CT_INGEST_CLIENT_ID") for s in workers.values()]
    assert all(ids)
    assert len(set(ids)) == len(ids)
    for service in workers.values():
        assert "deploy" not in service, "replicas of one service would share one client id"
        assert d.environment(service)["CT_INGEST_SHARE_GROUP"] == "ingest"
        assert d.aliases(service) == ["ingest"]


def _resolve(root: Any, args: list[str]) -> tuple[Any, list[str], str]:
    """The subcommand ``args`` names in the typer/click tree, the rest of ``args``, its path."""
    path: list[str] = []
    command = root
    rest = list(args)
    # typer 0.2x vendors click: its groups are recognised by their ``commands`` mapping.
    while hasattr(command, "commands"):
        assert rest, f"`channeltrace {' '.join(path)}` needs a subcommand"
        name = rest.pop(0)
        sub = command.commands.get(name)
        assert sub is not None, f"`channeltrace {' '.join([*path, name])}` does not exist"
        path.append(name)
        command = sub
    return command, rest, " ".join(path)


def test_command_check_refuses_unknown_commands_and_options() -> None:
    root = typer.main.get_command(app)
    with pytest.raises(AssertionError, match="does not exist"):
        _resolve(root, ["cloud", "no-such-command"])
    command, rest, path = _resolve(root, ["cloud", "ingest", "--no-such-option"])
    with pytest.raises(typer.TyperException, match="no-such-option"):
        command.make_context(path, rest)
    command, rest, path = _resolve(root, ["cloud", "api", "--port", "not-a-number"])
    with pytest.raises(typer.BadParameter, match="valid integer"):
        command.make_context(path, rest)


@pytest.mark.parametrize("name", sorted(OURS))
def test_service_command_is_a_channeltrace_subcommand_with_valid_options(name: str) -> None:
    root = typer.main.get_command(app)
    command, rest, path = _resolve(root, list(OURS[name]["command"]))
    # Parsing (no invocation) rejects unknown options, missing values and bad types.
    with command.make_context(f"channeltrace {path}", rest) as ctx:
        assert ctx.command is command


def _known_env() -> dict[str, list[type[Any]]]:
    known: dict[str, list[type[Any]]] = {}
    for cls in d.settings_classes():
        for env_name in d.env_names(cls):
            known.setdefault(env_name, []).append(cls)
    return known


def test_settings_classes_are_discovered() -> None:
    names = {cls.__name__ for cls in d.settings_classes()}
    assert "Settings" in names


@pytest.mark.parametrize("name", sorted(OURS))
def test_every_ct_variable_names_a_settings_field(name: str) -> None:
    known = set(_known_env()) | d.variables_read_by_name()
    env = d.environment(OURS[name])
    unknown = sorted(k for k in env if k.startswith("CT_") and k not in known)
    assert unknown == [], f"{name}: no settings class or code reads {unknown}"


def test_variables_read_by_name_are_few_and_real() -> None:
    # Found by their string constants: these are read with os.environ, not a settings class.
    assert d._CT_LITERAL.findall('NAME = "CT_SOME_FILE"') == ["CT_SOME_FILE"]
    direct = d.variables_read_by_name() - set(_known_env())
    assert "CT_EPCIS_SCHEMA" not in direct  # EPCIS validation reads no schema file
    assert "CT_NO_SUCH_SETTING" not in direct


def test_nothing_is_mounted_from_outside_the_repository() -> None:
    # A clone has nothing beside it (no ../shared): every bind mount is a file of deploy/.
    repository = d.DEPLOY.parent.resolve()
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                path = (d.DEPLOY / source).resolve()
                assert path.is_relative_to(repository), f"{name} mounts {source}"


@pytest.mark.parametrize("name", sorted(OURS))
def test_every_settings_class_accepts_the_service_environment(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert d.settings_problems_under(d.environment(OURS[name]), monkeypatch) == []


@pytest.mark.parametrize("name", sorted(OURS))
def test_production_secrets_are_set_and_come_from_files_or_env(name: str) -> None:
    service = OURS[name]
    env = d.environment(service)
    assert env["CT_ENVIRONMENT"] == "production"
    assert env["CT_AUTH_TOKEN_SECRET"]
    for var, secret in (
        ("CT_LEDGER_KEY_FILE", "ledger_key"),
        ("CT_LEDGER_ANCHOR_KEY_FILE", "anchor_key"),
    ):
        assert env[var] == f"/run/secrets/{secret}"
        assert secret in service["secrets"]
    # Secrets are files outside the repository, not values in the compose file.
    for key in ("CT_LEDGER_KEY", "CT_LEDGER_ANCHOR_KEY"):
        assert key not in env


def test_declared_secrets_are_files_ignored_by_git() -> None:
    ignored = (d.DEPLOY / ".gitignore").read_text(encoding="utf-8").split()
    assert {"/.env", "/ledger.env", "/secrets/", "/certs/"} <= set(ignored)
    for secret in COMPOSE["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    used = {s for service in SERVICES.values() for s in service.get("secrets", [])}
    assert used == set(COMPOSE["secrets"])


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        if image == d.OUR_IMAGE:
            assert service["build"]["dockerfile"] == "deploy/Dockerfile"
            continue
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+[\w.-]*", image), f"{name}: {image}"
    assert SERVICES["timescaledb"]["image"].startswith("timescale/timescaledb:")
    assert SERVICES["anvil"]["image"].startswith("ghcr.io/foundry-rs/foundry:")


def test_database_image_is_the_timescaledb_the_tests_run() -> None:
    """The minor version and PostgreSQL major that tests/plugins/timescale.py runs."""
    from tests.plugins.timescale import TESTED_POSTGRES_MAJOR, TESTED_TIMESCALEDB

    tag = SERVICES["timescaledb"]["image"].removeprefix("timescale/timescaledb:")
    version, postgres = tag.rsplit("-", 1)
    assert version.rsplit(".", 1)[0] == TESTED_TIMESCALEDB, tag
    assert postgres == f"pg{TESTED_POSTGRES_MAJOR}", tag


def test_host_ports_bind_loopback_unless_meant_to_be_public() -> None:
    for name, service in SERVICES.items():
        for binding in d.port_bindings(service):
            if (name, binding.container_port) in PUBLIC_PORTS:
                continue
            assert binding.host_ip == "127.0.0.1", f"{name} publishes {binding} beyond loopback"
    assert not d.port_bindings(SERVICES["anvil"]), "the dev chain stays on the backend network"
    assert not d.port_bindings(SERVICES["ingest-1"]), "metrics stay on the backend network"


def _url_host_port(url: str, default_port: int) -> tuple[str, int]:
    match = re.fullmatch(r"[a-z]+://(?:[^@/]*@)?([\w.-]+)(?::(\d+))?(?:/.*)?", url)
    assert match, url
    return match.group(1), int(match.group(2) or default_port)


def test_urls_point_at_services_and_their_ports() -> None:
    env = d.environment(OURS["ingest-1"])
    assert _url_host_port(env["CT_DATABASE_URL"], 5432) == ("timescaledb", 5432)
    assert _url_host_port(env["CT_ETH_RPC_URL"], 8545) == ("anvil", 8545)
    anvil = [str(a) for a in SERVICES["anvil"]["command"]]
    assert anvil[anvil.index("--port") + 1] == "8545"
    assert anvil[anvil.index("--host") + 1] == "0.0.0.0"
    assert "8545" in [str(p) for p in SERVICES["anvil"]["expose"]]
    host, port = _url_host_port(env["CT_MQTT_URL"], 1883)
    assert host == "mosquitto"
    from tests.deploy.test_mosquitto import listeners

    assert listeners()[port] == {}, "the cloud services use the plain listener inside the network"


def test_api_port_matches_its_setting_and_publication() -> None:
    api = OURS["api"]
    env = d.environment(api)
    assert env["CT_API_HOST"] == "0.0.0.0"
    [binding] = d.port_bindings(api)
    assert binding.container_port == int(env["CT_API_PORT"])


def test_api_healthcheck_asks_the_api_port() -> None:
    api = OURS["api"]
    probe = " ".join(api["healthcheck"]["test"])
    assert f"http://127.0.0.1:{d.environment(api)['CT_API_PORT']}/openapi.json" in probe


def test_database_runs_the_ingest_write_heavy_settings() -> None:
    from channeltrace.services import WRITE_HEAVY_SETTINGS

    command = [str(a) for a in SERVICES["timescaledb"]["command"]]
    assert command[0] == "postgres"
    settings = dict(
        command[i + 1].split("#")[0].strip().split("=", 1)
        for i, arg in enumerate(command)
        if arg == "-c"
    )
    assert settings["shared_preload_libraries"] == "timescaledb"
    # shared_buffers follows the host's RAM (25 %), the launcher's is for a shared test box.
    expected = {k: v for k, v in WRITE_HEAVY_SETTINGS.items() if k != "shared_buffers"}
    assert {k: settings.get(k) for k in expected} == expected
    assert "shared_buffers" in settings


def test_broker_may_hold_a_large_fleet() -> None:
    # docs/scaling.md: 10,000 sessions on one Mosquitto; each is an open descriptor.
    nofile = SERVICES["mosquitto"]["ulimits"]["nofile"]
    assert min(nofile["soft"], nofile["hard"]) >= 100_000
    from tests.deploy.test_mosquitto import directives

    assert "max_connections" not in directives()  # Mosquitto 2's default: unlimited


def test_mqtt_tls_port_is_the_published_one() -> None:
    from tests.deploy.test_mosquitto import listeners

    [binding] = d.port_bindings(SERVICES["mosquitto"])
    assert binding.container_port == 8883
    assert "certfile" in listeners()[8883]


def test_dependencies_name_existing_services_and_order_the_start() -> None:
    for name, service in SERVICES.items():
        for dep in service.get("depends_on", {}):
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
    for name in ("ingest-1", "ingest-2", "api", "scheduler", "broker-files"):
        assert OURS[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert SERVICES["mosquitto"]["depends_on"]["broker-files"]["condition"] == (
        "service_completed_successfully"
    )


def test_broker_files_are_readable_by_the_broker_and_name_the_services_account() -> None:
    command = OURS["broker-files"]["command"]
    assert command[command.index("--group") + 1] == "mosquitto"
    dockerfile = (d.DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "groupadd --system --gid 1883 mosquitto" in dockerfile  # eclipse-mosquitto's gid
    user = re.fullmatch(r"mqtt://([^:]+):.*", d.environment(OURS["ingest-1"])["CT_MQTT_URL"])
    assert user is not None
    assert user.group(1).startswith("svc-")  # `cloud broker service-user` names


def test_broker_files_volume_is_what_mosquitto_reads() -> None:
    from tests.deploy.test_mosquitto import directives

    out = OURS["broker-files"]["command"]
    out_dir = out[out.index("--out") + 1]
    writer = {v.split(":")[1]: v.split(":")[0] for v in OURS["broker-files"]["volumes"]}
    reader = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["mosquitto"]["volumes"]}
    volume = writer[out_dir]
    mounted_at = next(path for path, source in reader.items() if source == volume)
    for key in ("password_file", "acl_file"):
        [path] = directives()[key]
        assert path.startswith(f"{mounted_at}/")

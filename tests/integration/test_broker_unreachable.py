"""An operator can see what is wrong: ``edge run`` and ``cloud ingest`` against a broker that
is not there log each failed attempt at WARNING, with the reason and the backoff before the
next one, and connect on their own once the broker comes up."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from channeltrace.services import Mosquitto, ServiceUnavailable, free_port, start_mosquitto
from tests.integration._edge import Agents, agent_status, ingest_worker, provision_agent
from tests.integration.processes import Background, wait_for

pytestmark = pytest.mark.integration

RETRY = re.compile(
    r"WARNING \S+: cannot reach broker 127\.0\.0\.1:(\d+) \((.+)\); retrying in (\d+) s"
)


@pytest.fixture
def late_broker() -> Iterator[tuple[int, list[Mosquitto]]]:
    """A port with no broker yet; the test starts one there later."""
    started: list[Mosquitto] = []
    workdir = Path(tempfile.mkdtemp(prefix="ct-mq-late-"))
    workdir.chmod(0o755)
    yield free_port(), started
    for broker in started:
        broker.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def retries(process: Background, port: int) -> list[tuple[str, int]]:
    found = [RETRY.search(line) for line in process.lines]
    return [(m[2], int(m[3])) for m in found if m is not None and int(m[1]) == port]


def test_agent_and_ingest_log_an_unreachable_broker_and_connect_when_it_comes(
    late_broker: tuple[int, list[Mosquitto]],
    mosquitto: Mosquitto,
    database_url: str,
    tmp_path: Path,
) -> None:
    port, started = late_broker
    url = f"mqtt://127.0.0.1:{port}"
    agents = Agents(tmp_path)
    try:
        # Registration needs the schema: the ingest migrates it (the session broker serves it).
        ingest_worker(mosquitto.url, database_url, tmp_path).stop()
        config = provision_agent(tmp_path, url, database_url, "gw-late", interval_s=0.1)
        agent = agents.start(config)
        command = ["cloud", "ingest", "--database-url", database_url, "--mqtt-url", url,
                   "--client-id", "ingest-late"]  # fmt: skip
        ingest = Background(command, log=tmp_path / "ingest-late.log")
        try:
            for process in (agent, ingest):
                wait_for(lambda p=process: len(retries(p, port)) >= 3, 30, process.output)
                attempts = retries(process, port)
                assert all("refused" in reason.lower() for reason, _ in attempts), attempts
                delays = [delay for _, delay in attempts]
                assert delays == sorted(delays), delays  # a growing backoff...
                assert delays[0] == 1, delays
                assert delays[-1] >= 4, delays  # ...that doubles (paho's, 1 s up to the cap)
            assert agent_status(config)["connection"] == "disconnected"
            assert "refused" in str(agent_status(config)["last_error"]).lower()
            try:
                started.append(start_mosquitto(tmp_path / "late-broker", port=port))
            except ServiceUnavailable as exc:  # pragma: no cover - the session broker exists
                pytest.skip(str(exc))
            ingest.wait_for_line("ingest ready", timeout=30)
            wait_for(lambda: agent_status(config)["connection"] == "connected", 30,
                     agent.output)  # fmt: skip
        finally:
            ingest.stop()
    finally:
        agents.close()

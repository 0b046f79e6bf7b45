"""Edge agent figures: RSS of a real agent process, CPU per reading, durable outbox writes.

Run: ``python bench/edge.py [--seconds 5] [--process-seconds 60] [--mqtt-url URL]``. Prints
JSON lines; asserts nothing. Goals (issue 3): RSS <= 40 MB; >= 5,000 readings/s into the outbox.

1. ``outbox``: `Outbox.add` of real probe readings (as the agent stores them), committed
   with ``synchronous=FULL`` (fsync per commit), by readings per commit.
2. ``agent_loop``: the agent's own sampling path in-process (sensors -> alarms -> outbox ->
   sealed, signed batches) with many simulated probes, no broker: readings/s and CPU/reading.
3. ``agent_process``: the agent as a real process at 100 samples/s (200 readings/s), against
   the broker given (or none: it keeps everything in the outbox), started two ways in the
   same run: ``channeltrace edge run`` (the full command line: typer, rich and every
   subcommand module, which load `cryptography` and more) as the baseline, and
   ``python -m edge run`` (``channeltrace-edge``, what the systemd unit runs). Memory is read
   from /proc after ``--process-seconds`` (steady state): VmRSS, the VmHWM peak, and PSS
   (shared library pages divided among the processes mapping them); ``heavy_libs`` lists
   which large extension libraries the process has mapped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path and its name ("edge")
# would shadow the edge package; the repository root must win.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from edge.agent import Agent  # noqa: E402
from edge.config import load_config  # noqa: E402
from edge.outbox import Kind, Outbox  # noqa: E402
from edge.provision import SensorChoice, provision  # noqa: E402
from firmware_sim.climate import ClimateSensor  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def probe_readings(count: int) -> list[dict[str, object]]:
    sensor = ClimateSensor("probe-1", profile="dairy", seed=1)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    out: list[dict[str, object]] = []
    step = 0
    while len(out) < count:
        for r in sensor.sample(t0 + timedelta(seconds=step)):
            out.append(r.model_dump(mode="json", exclude_none=True))
        step += 1
    return out[:count]


def bench_outbox(directory: Path, seconds: float) -> None:
    for per_commit in (1, 10, 100, 1000):
        items = probe_readings(per_commit)
        path = directory / f"outbox-{per_commit}.db"
        with Outbox(path, budget_bytes=1 << 30) as box:
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                box.add(Kind.TELEMETRY, items)
                done += per_commit
            elapsed = time.perf_counter() - start
        print(
            json.dumps(
                {
                    "bench": "outbox",
                    "readings_per_commit": per_commit,
                    "readings_per_s": round(done / elapsed),
                    "ms_per_commit": round(elapsed / (done / per_commit) * 1e3, 3),
                }
            )
        )


def bench_agent_loop(directory: Path, seconds: float, probes: int) -> None:
    prov = provision(
        directory / "loop",
        device="gw-bench",
        tenant="acme",
        site="wh-1",
        broker_url="mqtt://127.0.0.1:1",
        sensor=SensorChoice.simulated(),
    )
    config = load_config(prov.config_path)
    sensors = [ClimateSensor(f"p{i}", profile="dairy", seed=i) for i in range(probes)]
    agent = Agent(config, sensors=sensors)
    try:
        cpu0, start = time.process_time(), time.perf_counter()
        while time.perf_counter() - start < seconds:
            agent.sample_once()
            agent.seal_pending()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        stats = agent.outbox.stats()
    finally:
        agent.outbox.close()
    print(
        json.dumps(
            {
                "bench": "agent_loop",
                "probes": probes,
                "readings_per_sample": 2 * probes,
                "readings_per_s": round(agent.readings / elapsed),
                "cpu_us_per_reading": round(cpu / agent.readings * 1e6, 1),
                "sealed_messages": stats.pending_messages,
            }
        )
    )


def _proc(pid: int) -> tuple[int, int, float]:
    """(rss bytes, peak rss bytes, cpu seconds) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = {
        key: rest.split()[0]
        for key, _, rest in (line.partition(":") for line in status.splitlines())
        if rest.split()
    }
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / TICKS
    return int(fields["VmRSS"]) * 1024, int(fields["VmHWM"]) * 1024, cpu


def _pss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise KeyError("Pss")


HEAVY_LIBS = {
    "pydantic": "_pydantic_core",
    "cryptography": "cryptography/hazmat/bindings/_rust",
    "libcrypto": "/libcrypto.so",
    "libssl": "/libssl.so",
}


def _heavy_libs(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name, marker in HEAVY_LIBS.items() if marker in maps]


ENTRY_POINTS = {
    "channeltrace edge run": ["-m", "channeltrace", "edge", "run"],
    "python -m edge run": ["-m", "edge", "run"],
}


def bench_agent_process(
    directory: Path, seconds: float, mqtt_url: str | None, entry: str
) -> dict[str, Any]:
    prov = provision(
        directory / f"proc-{len(list(directory.iterdir()))}",
        device="gw-proc",
        tenant="acme",
        site="wh-1",
        broker_url=mqtt_url or "mqtt://127.0.0.1:1",
        sensor=SensorChoice.simulated(),
    )
    text = prov.config_path.read_text().replace("interval_s = 1.0", "interval_s = 0.01")
    prov.config_path.write_text(text)
    command = [
        sys.executable,
        *ENTRY_POINTS[entry],
        "--config",
        str(prov.config_path),
        "--duration",
        str(seconds + 3),  # still sampling when the steady-state figures are read
        "--drain",
        "0",  # offline: nothing to deliver, measure the sampling run only
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peaks: list[int] = []
    halfway: list[int] = []  # rss at half time: with the steady figure, shows any growth
    steady: list[tuple[int, int, float, list[str]]] = []  # rss, pss, cpu, heavy libs
    done = threading.Event()

    def watch() -> None:
        started = time.monotonic()
        while not done.is_set():
            try:
                rss, peak, cpu = _proc(proc.pid)
                peaks.append(peak)
                if not halfway and time.monotonic() - started >= seconds / 2:
                    halfway.append(rss)
                if not steady and time.monotonic() - started >= seconds:
                    steady.append((rss, _pss(proc.pid), cpu, _heavy_libs(proc.pid)))
            except (OSError, IndexError, KeyError):
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, _ = proc.communicate(timeout=seconds + 60)
    done.set()
    watcher.join()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    accepted = summary["accepted"]["telemetry"]
    rss, pss, cpu, libs = steady[0]
    result: dict[str, Any] = {
        "bench": "agent_process",
        "entry": entry,
        "broker": mqtt_url or "none (offline)",
        "after_s": seconds,
        "readings": accepted,
        "rss_mb_halfway": round(halfway[0] / 2**20, 1),
        "rss_mb": round(rss / 2**20, 1),
        "peak_rss_mb": round(max(peaks) / 2**20, 1),
        "pss_mb": round(pss / 2**20, 1),
        "heavy_libs": libs,
        "cpu_us_per_reading": round(cpu / accepted * 1e6, 1) if accepted else None,
        "note": "cpu includes interpreter start-up",
    }
    print(json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument(
        "--process-seconds", type=float, default=60.0, help="when to read agent memory"
    )
    parser.add_argument("--mqtt-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ct-bench-edge-") as tmp:
        directory = Path(tmp)
        bench_outbox(directory, args.seconds / 2)
        bench_agent_loop(directory, args.seconds, args.probes)
        results = [
            bench_agent_process(directory, args.process_seconds, args.mqtt_url, entry)
            for entry in ENTRY_POINTS
        ]
        baseline, lean = results
        print(
            json.dumps(
                {
                    "bench": "agent_rss_goal",
                    "goal_mb": 40,
                    "baseline_rss_mb": baseline["rss_mb"],
                    "lean_rss_mb": lean["rss_mb"],
                    "lean_pss_mb": lean["pss_mb"],
                    "met": lean["rss_mb"] <= 40,
                }
            )
        )


if __name__ == "__main__":
    main()

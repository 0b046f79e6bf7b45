"""Edge agent figures: RSS of a real agent process, CPU per reading, durable outbox writes.

Run: ``python bench/edge.py [--seconds 5] [--process-seconds 60] [--mqtt-url URL]``. Prints
JSON lines; asserts nothing. Goals: RSS <= 45 MB (issue 13; 40 MB in issue 3); >= 5,000
readings/s into the outbox.

1. ``outbox``: `Outbox.add` of real probe readings (as the agent stores them), committed
   with ``synchronous=FULL`` (fsync per commit), by readings per commit.
1b. ``outbox_cycle``: the whole life of a message in the outbox, one sample (2 readings) at
   a time: add, seal, then free. Freed one message per PUBACK (``Outbox.ack``, the agent
   before storage receipts: the baseline, measured in the same run) and a receipt's worth at
   once (``Outbox.free``: a busy device gets a few receipts a second covering many messages).
2. ``agent_loop``: the agent's own sampling path in-process (sensors -> alarms -> outbox ->
   sealed, signed batches) with many simulated probes, no broker: readings/s and CPU/reading.
3. ``agent_process``: the agent as a real process at 100 samples/s (200 readings/s), against
   the broker given (or none: it keeps everything in the outbox), started two ways in the
   same run: ``channeltrace edge run`` (the full command line: typer, rich and every
   subcommand module, which load `cryptography` and more) as the baseline, and
   ``python -m edge run`` (``channeltrace-edge``, what the systemd unit runs). Memory is read
   from /proc after ``--process-seconds`` (steady state): VmRSS, the VmHWM peak, and PSS
   (shared library pages divided among the processes mapping them); ``heavy_libs`` lists
   which large extension libraries the process has mapped. Then once more (lean entry)
   against a Mosquitto this bench starts, with the cloud key but no ingest: every message is
   published and acknowledged by the broker and none is ever receipted, so the agent tracks
   all it may (the worst case for its memory; one message per sample to get there sooner).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
from edge.provision import Provisioned, SensorChoice, provision  # noqa: E402
from firmware_sim.devices.climate import ClimateSensor  # noqa: E402

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


def _seal_like_the_agent(kind: Kind, seq: int, items: list[dict[str, Any]]) -> bytes:
    # The size of a signed envelope: compact JSON of the items plus a 64-byte signature.
    body = json.dumps({"k": kind.value, "s": seq, "i": items}, separators=(",", ":"))
    return body.encode() + bytes(64)


def bench_outbox_cycle(directory: Path, seconds: float) -> None:
    sample = probe_readings(2)
    for label, per_free in (("ack per PUBACK (before)", 1), ("free per receipt", 10),
                            ("free per receipt", 100)):  # fmt: skip
        path = directory / f"cycle-{per_free}.db"
        with Outbox(path, budget_bytes=1 << 30) as box:
            done, waiting, seq, start = 0, [], 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                box.add(Kind.TELEMETRY, sample)
                seq += box.seal(_seal_like_the_agent, max_items=2)  # one message: seq 1, 2, ...
                waiting.append(seq)
                if len(waiting) >= per_free:
                    if per_free == 1:
                        box.ack(waiting[0])
                    else:
                        box.free(waiting)
                    waiting.clear()
                done += len(sample)
            elapsed = time.perf_counter() - start
        print(json.dumps({
            "bench": "outbox_cycle", "freed": label, "messages_per_free": per_free,
            "readings_per_s": round(done / elapsed),
            "commits_per_message": round(2 + 1 / per_free, 2),
        }))  # fmt: skip


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
    directory: Path,
    seconds: float,
    mqtt_url: str | None,
    entry: str,
    *,
    cloud_key: str | None = None,
    batch: int = 500,
) -> dict[str, Any]:
    prov: Provisioned = provision(
        directory / f"proc-{len(list(directory.iterdir()))}",
        device="gw-proc",
        tenant="acme",
        site="wh-1",
        broker_url=mqtt_url or "mqtt://127.0.0.1:1",
        sensor=SensorChoice.simulated(),
    )
    text = prov.config_path.read_text().replace("interval_s = 1.0", "interval_s = 0.01")
    text = text.replace("batch_max_readings = 500", f"batch_max_readings = {batch}")
    if cloud_key is not None:
        text += f'\n[cloud]\nconfig_public_key = "{cloud_key}"\n'
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
        "receipts": "expected, none sent" if cloud_key else "no cloud key",
        "messages_sealed": summary["pending_messages"] + summary["messages_acked"],
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


def _unreceipted_worst_case(directory: Path, seconds: float) -> dict[str, Any] | None:
    """The lean agent against a real broker, with the cloud key and no ingest."""
    from channeltrace.services import ServiceError, start_mosquitto
    from wire import format_public_key, generate_private_key

    broker_dir = Path(tempfile.mkdtemp(prefix="ct-bench-edge-mq-"))
    broker_dir.chmod(0o755)
    try:
        with start_mosquitto(broker_dir) as broker:
            key = format_public_key(generate_private_key())
            return bench_agent_process(directory, seconds, broker.url, "python -m edge run",
                                       cloud_key=key, batch=2)  # fmt: skip
    except ServiceError as exc:
        print(json.dumps({"bench": "agent_process", "skipped": f"no broker: {exc}"}))
        return None
    finally:
        shutil.rmtree(broker_dir, ignore_errors=True)


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
        bench_outbox_cycle(directory, args.seconds / 2)
        bench_agent_loop(directory, args.seconds, args.probes)
        results = [
            bench_agent_process(directory, args.process_seconds, args.mqtt_url, entry)
            for entry in ENTRY_POINTS
        ]
        baseline, lean = results
        worst = _unreceipted_worst_case(directory, args.process_seconds)
        print(
            json.dumps(
                {
                    "bench": "agent_rss_goal",
                    "goal_mb": 45,
                    "baseline_rss_mb": baseline["rss_mb"],
                    "lean_rss_mb": lean["rss_mb"],
                    "lean_pss_mb": lean["pss_mb"],
                    "lean_unreceipted_rss_mb": worst["rss_mb"] if worst else None,
                    "met": max(lean["rss_mb"], worst["rss_mb"] if worst else 0) <= 45,
                }
            )
        )


if __name__ == "__main__":
    main()

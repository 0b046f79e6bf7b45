"""pgbouncer 1.18 on loopback in front of one PostgreSQL server."""

from __future__ import annotations

import os
import pwd
import signal
import time
from pathlib import Path

from channeltrace._process import Service, port_open
from channeltrace.ha._common import SUPERUSER, find_pgbouncer, listen_port, own, run_as

__all__ = ["Pgbouncer", "start_pgbouncer"]


class Pgbouncer(Service):
    """pgbouncer on loopback in front of one PostgreSQL server (transaction pooling)."""

    name = "pgbouncer"

    def __init__(self, binary: Path, workdir: Path, port: int, upstream_port: int,
                 pool_mode: str) -> None:  # fmt: skip
        super().__init__(workdir, port, workdir / "pgbouncer.log")
        self._binary = binary
        self.upstream_port = upstream_port
        self._pool_mode = pool_mode
        self._user = run_as()
        self._config = workdir / "pgbouncer.ini"

    def url(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def start(self, timeout: float = 10.0) -> None:
        own(self._workdir, self._user, 0o755)
        users = self._workdir / "userlist.txt"
        users.write_text(f'"{SUPERUSER}" ""\n')
        self._config.write_text("\n".join([
            "[databases]",
            f"* = host={self.host} port={self.upstream_port}",
            "[pgbouncer]",
            f"listen_addr = {self.host}", f"listen_port = {self.port}",
            f"unix_socket_dir = {self._workdir}",
            "auth_type = trust", f"auth_file = {users}",
            f"pool_mode = {self._pool_mode}",
            "max_client_conn = 500", "default_pool_size = 20",
            "server_check_query = select 1", "server_check_delay = 1",
            "ignore_startup_parameters = extra_float_digits,options",
            f"logfile = {self._workdir / 'pgbouncer.out'}",
        ]) + "\n")  # fmt: skip
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            for path in (users, self._config):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        began = time.monotonic()
        proc = self._spawn([str(self._binary), str(self._config)], user=self._user)
        while not port_open(self.port):
            if proc.poll() is not None:
                raise self._fail(f"pgbouncer exited with status {proc.returncode}")
            if time.monotonic() - began > timeout:
                raise self._fail(f"pgbouncer not listening on {self.port} after {timeout} s")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        self._terminate(signal.SIGINT, timeout)  # SIGINT: safe shutdown


def start_pgbouncer(
    workdir: Path, upstream_port: int, *, pool_mode: str = "transaction", port: int | None = None
) -> Pgbouncer:
    """pgbouncer on a free loopback port in front of ``127.0.0.1:upstream_port``."""
    bouncer = Pgbouncer(find_pgbouncer(), workdir, port or listen_port(), upstream_port, pool_mode)
    bouncer.start()
    return bouncer

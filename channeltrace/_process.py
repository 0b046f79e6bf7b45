"""Owning one server process: spawn, wait for readiness, stop, always reap.

The base of the launchers in ``channeltrace.services``. Every server is our direct child,
so stopping or killing one always collects its exit status: the container's PID 1 does not
reap orphans, and a zombie postmaster would keep its ``postmaster.pid`` "alive" and block
the next start.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import pwd
import signal
import socket
import subprocess
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "LOOPBACK",
    "ServiceError",
    "ServiceStartError",
    "ServiceUnavailable",
    "free_port",
]

_logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class ServiceError(Exception):
    """Root of the errors raised by the service launchers."""


class ServiceUnavailable(ServiceError):
    """A binary the service needs is not installed."""


class ServiceStartError(ServiceError):
    """The service was found but did not start (the message carries its log tail)."""


def free_port() -> int:
    """A TCP port on the loopback interface that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"(empty log {path})"


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def as_user(user: str | None) -> dict[str, Any]:
    """Popen arguments that drop root to ``user`` in the child (nothing for other users)."""
    if user is None or os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    # extra_groups=[] clears root's supplementary groups; group= alone would keep them.
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def clean_env() -> dict[str, str]:
    # PG* variables from the caller's shell (PGDATA, PGPORT, ...) would redirect our tools.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"}


def reap(proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> None:
    """Signal the process, wait, escalate to SIGKILL, and always collect its exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _logger.warning("pid %d ignored %s for %.0f s; killing it", proc.pid, sig.name, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    """Have orphaned descendants reparented to us rather than to PID 1.

    A killed postmaster orphans its backends; the container's PID 1 does not reap, so they
    would stay zombies. As a subreaper we can collect them ourselves (Linux only).
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    return False


def _children(ppid: int) -> list[int]:
    """Direct children of ``ppid``, from /proc (empty where there is no /proc)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Fields after the parenthesised command name: state, ppid, ...
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == ppid:
                found.append(int(stat_file.parent.name))
    return found


def kill_hard(proc: subprocess.Popen[bytes], *, children: bool, timeout: float = 5.0) -> None:
    """SIGKILL a server (and by default its children at the same instant); reap them all.

    PostgreSQL backends call setsid(), so killing the process group would miss them: they
    are found by parent pid instead.
    """
    if proc.poll() is not None:
        return
    reaping = _become_subreaper()
    with contextlib.suppress(ProcessLookupError):
        # Frozen first, so it cannot notice dying children and start its own recovery.
        os.kill(proc.pid, signal.SIGSTOP)
    orphans = _children(proc.pid)
    if children:
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if not reaping:
        return
    # The orphans are ours now; any still alive (only the server was killed) exit as soon
    # as they notice that their parent is gone.
    deadline = time.monotonic() + timeout
    while orphans and time.monotonic() < deadline:
        for pid in list(orphans):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid  # not ours: nothing to reap
            if done:
                orphans.remove(pid)
        if orphans:
            time.sleep(0.01)


# Handles still running at interpreter exit are stopped, so a crashed demo or test run
# leaves no broker or database behind (they run in their own sessions, out of reach of ^C).
_LIVE: weakref.WeakSet[Service] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for service in list(_LIVE):
        with contextlib.suppress(Exception):
            service.stop()


class Service:
    """A server process we own, one at a time, on a fixed loopback port."""

    name = "service"
    host = LOOPBACK

    def __init__(self, workdir: Path, port: int, log_path: Path) -> None:
        self._workdir = workdir
        self._port = port
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def workdir(self) -> Path:
        return self._workdir

    @property
    def log_path(self) -> Path:
        return self._log_path

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def is_running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        """Stop, then start again on the same port (and, for a database, the same data)."""
        self.stop()
        self.start()

    def _spawn(self, argv: list[str], *, user: str | None = None) -> subprocess.Popen[bytes]:
        if self.is_running():
            raise ServiceStartError(f"{self.name} already running (pid {self.pid})")
        with self._log_path.open("ab") as log:
            # Own session: the server and its children form one process group that a kill
            # can take down at once, and a Ctrl-C in the terminal reaches us, not them.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=clean_env(),
                **as_user(user),
            )
        self._proc = proc
        _LIVE.add(self)
        return proc

    def _terminate(self, sig: signal.Signals, timeout: float) -> None:
        if self._proc is not None:
            reap(self._proc, sig, timeout)
        _LIVE.discard(self)

    def _fail(self, what: str) -> ServiceStartError:
        self._terminate(signal.SIGKILL, 5)
        tail = log_tail(self._log_path)
        return ServiceStartError(f"{what}; last lines of {self._log_path}:\n{tail}")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state}>"

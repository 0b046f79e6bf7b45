"""Child processes of the long runs (chaos, failover) and their tests: an agent, an ingest
worker, a cloud service, each writing its output to a log file of its own."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

__all__ = ["ChildProcess"]


class ChildProcess:
    """One child process writing stdout and stderr to ``log`` (appended).

    With ``stamped``, its output goes through a pipe instead, and each line is also kept
    with the monotonic time it was read (:meth:`first_line_after`: when did a scheduler say
    it became leader). ``start_new_session`` keeps a terminal's Ctrl-C from reaching it.
    """

    def __init__(
        self,
        argv: list[str],
        log: Path,
        env: dict[str, str],
        *,
        stamped: bool = False,
        start_new_session: bool = True,
    ) -> None:
        self.argv, self.log, self.env = argv, log, env
        self.stamped, self.start_new_session = stamped, start_new_session
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[tuple[float, str]] = []
        self._out: IO[bytes] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        self._out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE if self.stamped else self._out,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=self.start_new_session,
        )
        if self.stamped:
            self._reader = threading.Thread(
                target=self._read, args=(self.proc, self._out), daemon=True
            )
            self._reader.start()

    def _read(self, proc: subprocess.Popen[bytes], out: IO[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))
            with contextlib.suppress(ValueError):  # closed at the end
                out.write(raw)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self._reap()

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        self.terminate()
        return self.wait(timeout)

    def wait(self, timeout: float) -> int | None:
        """Wait for the exit (SIGKILL after ``timeout``); the exit code."""
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self._reap()

    def _reap(self) -> int | None:
        code = None if self.proc is None else self.proc.wait()
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._out is not None:
            self._out.close()
            self._out = None
        return code

    def text(self) -> str:
        """Everything it wrote so far."""
        return self.log.read_text(errors="replace")

    def first_line_after(self, needle: str, t0: float) -> float | None:
        """When the first line containing ``needle`` was read after ``t0`` (``stamped``)."""
        return next((t for t, line in list(self.lines) if t > t0 and needle in line), None)

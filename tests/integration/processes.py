"""Running ``channeltrace`` subcommands as real processes from tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["Background", "channeltrace", "stop_leftovers", "wait_for"]

_COMMAND = [sys.executable, "-m", "channeltrace"]
# Every Background not yet stopped: a test that fails before its own stop leaves its
# process and its output pipe behind, and the pipe's ResourceWarning would then fail
# whichever later test the garbage collector happens to run in.
_LIVE: set[Background] = set()


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def channeltrace(
    args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a subcommand to completion; fails the test with its output when it fails."""
    result = subprocess.run(
        [*_COMMAND, *args], capture_output=True, text=True, env=_env(env), timeout=timeout,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(
            f"channeltrace {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


class Background:
    """A long-running subcommand whose output is collected line by line."""

    def __init__(self, args: Sequence[str], *, env: dict[str, str] | None = None,
                 log: Path | None = None) -> None:  # fmt: skip
        self.args = list(args)
        self.lines: list[str] = []
        self._log = log
        self.process = subprocess.Popen(
            [*_COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=_env(env),
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        _LIVE.add(self)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if self._log is not None:
                with self._log.open("a", encoding="utf-8") as handle:
                    handle.write(line)

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, needle: str, timeout: float = 30) -> None:
        wait_for(
            lambda: any(needle in line for line in self.lines),
            timeout,
            lambda: (
                f"{needle!r} not printed by channeltrace {' '.join(self.args)}:\n" + self.output()
            ),
        )

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close()

    def _close(self) -> None:
        _LIVE.discard(self)
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def stop_leftovers() -> list[str]:
    """Kill every Background a test left running; the commands that were."""
    left = sorted(_LIVE, key=lambda b: b.args)
    for process in left:
        process.kill()
    return [" ".join(b.args) for b in left]


def wait_for(
    condition: Callable[[], bool], timeout: float, describe: Callable[[], str] | str
) -> None:
    """Poll ``condition`` until true; fail with ``describe`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(describe() if callable(describe) else describe)

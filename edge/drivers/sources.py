"""Non-blocking byte sources for line-oriented scanners: a serial tty, or a stream.

Standard library only (os, termios, fcntl): no pyserial on the gateway. Every source is
opened with O_NONBLOCK and read until the kernel has nothing more, so a scanner poll never
waits for a device.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import select
import termios
from pathlib import Path
from typing import Protocol

from edge.errors import DriverError

__all__ = ["MAX_READ", "ByteSource", "SerialSource", "StreamSource", "configure_raw"]

_logger = logging.getLogger(__name__)

MAX_READ = 65_536  # bytes taken per poll; the rest waits in the kernel for the next one
_CHUNK = 4_096


class ByteSource(Protocol):
    description: str

    def open(self) -> None:
        """Open the device; OSError when it is missing or busy, DriverError when unusable."""

    def read_available(self) -> bytes:
        """Whatever has arrived, without waiting (b"" for nothing); OSError on failure."""

    def close(self) -> None: ...


def configure_raw(fd: int, baud: int) -> None:
    """8N1, raw (no echo, no line editing, no CR/LF translation), reads never wait."""
    iflag, oflag, cflag, lflag, _ispeed, _ospeed, cc = termios.tcgetattr(fd)
    iflag &= ~(
        termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP
        | termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF
    )  # fmt: skip
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | getattr(termios, "CRTSCTS", 0))
    cflag |= termios.CS8 | termios.CREAD | termios.CLOCAL
    speed = getattr(termios, f"B{baud}")
    cc[termios.VMIN] = 0
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, speed, speed, cc])


def _drain(fd: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < MAX_READ:
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            break
        if not chunk:  # tty with VMIN=0, or a stream without writer / at its end
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _hung_up(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return any(ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, ev in poller.poll(0))


class SerialSource:
    """A serial reader (``/dev/ttyACM0``, ``/dev/serial/by-id/...``) in raw mode."""

    def __init__(self, path: Path, baud: int) -> None:
        self.description = f"serial {path} at {baud} baud"
        self._path = path
        self._baud = baud
        self._fd: int | None = None

    def open(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            configure_raw(fd, self._baud)
            # Exclusive: keep other openers (ModemManager probing a CDC device) off the line.
            fcntl.ioctl(fd, termios.TIOCEXCL)
        except termios.error as exc:
            os.close(fd)
            code = exc.args[0] if exc.args else 0
            if code == errno.ENOTTY:
                raise DriverError(f"{self._path} is not a serial device (not a tty)") from None
            raise OSError(code, f"configuring {self._path}: {exc.args[-1]}") from None
        except OSError:
            os.close(fd)
            raise
        self._fd = fd

    def read_available(self) -> bytes:
        if self._fd is None:
            raise OSError(errno.EBADF, f"{self.description} is not open")
        data = _drain(self._fd)
        # An unplugged USB reader hangs the tty up: reads then return b"" like an idle
        # line, and only poll() tells the two apart.
        if not data and _hung_up(self._fd):
            raise OSError(errno.EIO, f"{self._path} hung up (device unplugged?)")
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class StreamSource:
    """Line input from a FIFO, a file (read on as it grows) or ``-`` for stdin.

    A FIFO opened without a writer reads as empty, not as an error, so the scanner keeps
    waiting for the wedge bridge (or a person with ``echo CODE > fifo``) to write.
    """

    def __init__(self, path: Path) -> None:
        self._stdin = str(path) == "-"
        self.description = "stdin" if self._stdin else f"stream {path}"
        self._path = path
        self._fd: int | None = None

    def open(self) -> None:
        if self._stdin:
            fd = 0
            os.set_blocking(fd, False)
        else:
            fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK)
        self._fd = fd

    def read_available(self) -> bytes:
        if self._fd is None:
            raise OSError(errno.EBADF, f"{self.description} is not open")
        return _drain(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            if self._stdin:
                os.set_blocking(self._fd, True)  # leave stdin as we found it
            else:
                os.close(self._fd)
        self._fd = None

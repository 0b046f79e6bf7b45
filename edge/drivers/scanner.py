"""A line-oriented barcode/RFID reader turned into stock in/out scan events.

The reader sends one code per line (CR, LF or CRLF). Each :meth:`LineScanner.poll` takes
whatever bytes have arrived, without waiting, and returns one :class:`wire.ScanEvent`
per complete line that is a code. Direction is the reader's configured one (a dock-in or
dock-out reader), switched by scanning a mode code (``IN``/``OUT`` by default), and falls
back to the configured one after ``mode_timeout_s`` without scans. A missing or failed
device is reopened every ``reopen_s``; poll never raises for device trouble.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from edge.drivers.codes import CodeError, parse_code
from edge.drivers.config import Direction, LineScannerConfig, SerialScannerConfig
from edge.drivers.sources import ByteSource
from edge.errors import DriverError
from wire import ScanEvent

__all__ = ["MAX_LINE_BYTES", "LineScanner", "ScannerStats"]

_logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 4_096  # a longer run without a line end is noise, not a code


@dataclass(frozen=True, slots=True)
class ScannerStats:
    connected: bool
    scans: int
    rejected: int  # lines that were not codes (garbage, control characters, bad GTIN)
    duplicates: int  # reads dropped by ``dedupe_s``
    direction: Direction


class LineScanner:
    """One reader; call :meth:`poll` every agent loop and :meth:`close` at shutdown."""

    def __init__(self, config: SerialScannerConfig | LineScannerConfig, source: ByteSource) -> None:
        self.scanner_id = config.id
        self._config = config
        self._source = source
        self._open = False
        self._next_open: datetime | None = None
        self._failing = False
        self._pending = b""
        self._direction: Direction = config.direction
        self._last_activity: datetime | None = None
        self._seen: dict[str, datetime] = {}
        self._scans = self._rejected = self._duplicates = 0
        # A source that cannot work as configured (not a tty) is a setup error; a device
        # that is merely absent at start is retried from poll.
        with contextlib.suppress(OSError):
            self._try_open(None)

    def poll(self, now: datetime) -> list[ScanEvent]:
        data = self._read(now)
        if not data:
            return []
        events: list[ScanEvent] = []
        for raw in self._lines(data):
            event = self._event(raw, now)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> None:
        if self._open:
            self._source.close()
            self._open = False

    def stats(self) -> ScannerStats:
        return ScannerStats(self._open, self._scans, self._rejected, self._duplicates,
                            self._direction)  # fmt: skip

    # --- device ----------------------------------------------------------------------

    def _try_open(self, now: datetime | None) -> None:
        try:
            self._source.open()
        except (OSError, DriverError) as exc:
            level = logging.DEBUG if self._failing else logging.WARNING
            _logger.log(level, "scanner %s: cannot open %s: %s; retrying every %ss",
                        self.scanner_id, self._source.description, exc,
                        self._config.reopen_s)  # fmt: skip
            self._failing = True
            if now is not None:
                self._next_open = now + timedelta(seconds=self._config.reopen_s)
            raise
        if self._failing:
            _logger.info("scanner %s: %s open again", self.scanner_id, self._source.description)
        self._failing = False
        self._open = True
        self._pending = b""

    def _read(self, now: datetime) -> bytes:
        if not self._open:
            if self._next_open is not None and now < self._next_open:
                return b""
            try:
                self._try_open(now)
            except (OSError, DriverError):
                return b""
        try:
            return self._source.read_available()
        except OSError as exc:
            _logger.warning("scanner %s: reading %s failed: %s; reopening",
                            self.scanner_id, self._source.description, exc)  # fmt: skip
            self.close()
            self._failing = True
            self._next_open = now + timedelta(seconds=self._config.reopen_s)
            return b""

    def _lines(self, data: bytes) -> list[bytes]:
        buffered = self._pending + data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, rest = buffered.split(b"\n")
        if len(rest) > MAX_LINE_BYTES:
            _logger.warning("scanner %s: %d bytes without a line end; discarded",
                            self.scanner_id, len(rest))  # fmt: skip
            self._rejected += 1
            rest = b""
        self._pending = rest
        return [line for line in lines if line.strip()]

    # --- codes -----------------------------------------------------------------------

    def _event(self, raw: bytes, now: datetime) -> ScanEvent | None:
        self._expire_mode(now)
        try:
            text = raw.decode("utf-8").strip()
            mode = self._config.mode_codes.get(text)
            if mode is not None:
                self._switch(mode, now)
                return None
            parsed = parse_code(text)
        except (UnicodeDecodeError, CodeError) as exc:
            self._rejected += 1
            _logger.warning("scanner %s: line %r rejected: %s", self.scanner_id, raw[:80], exc)
            return None
        self._last_activity = now
        if self._duplicate(parsed.code, now):
            return None
        self._scans += 1
        return ScanEvent(ts=now, code=parsed.code, direction=self._direction,
                         reader=self.scanner_id, gtin=parsed.gtin)  # fmt: skip

    def _expire_mode(self, now: datetime) -> None:
        idle, home = self._config.mode_timeout_s, self._config.direction
        if idle is None or self._last_activity is None or self._direction == home:
            return
        if (now - self._last_activity).total_seconds() > idle:
            _logger.info("scanner %s: idle for over %ss, back to %r", self.scanner_id, idle, home)
            self._direction = home

    def _switch(self, mode: Direction, now: datetime) -> None:
        if mode != self._direction:
            _logger.info("scanner %s: direction %r -> %r", self.scanner_id, self._direction, mode)
        self._direction = mode
        self._last_activity = now
        self._seen.clear()  # the same unit may legitimately go back out

    def _duplicate(self, code: str, now: datetime) -> bool:
        window = self._config.dedupe_s
        if window <= 0:
            return False
        horizon = now - timedelta(seconds=window)
        self._seen = {c: t for c, t in self._seen.items() if t > horizon}
        if code in self._seen:
            self._seen[code] = now  # a tag sitting in the portal stays one read
            self._duplicates += 1
            return True
        self._seen[code] = now
        return False

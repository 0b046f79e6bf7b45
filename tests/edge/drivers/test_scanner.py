"""Line scanners: a real pseudo-terminal for the serial reader, FIFOs for wedge input."""

from __future__ import annotations

import os
import termios
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.drivers import build_scanner
from edge.drivers.config import LineScannerConfig, SerialScannerConfig
from edge.drivers.scanner import MAX_LINE_BYTES, LineScanner
from edge.drivers.sources import StreamSource
from edge.errors import DriverError
from wire import ScanEvent

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
EAN = "4006381333931"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def poll_until(
    scanner: LineScanner, count: int, now: datetime, wait_s: float = 5.0
) -> list[ScanEvent]:
    """A pty hands bytes to the slave side asynchronously: poll until they have arrived."""
    events: list[ScanEvent] = []
    deadline = time.monotonic() + wait_s
    while len(events) < count and time.monotonic() < deadline:
        events += scanner.poll(now)
        time.sleep(0.005)
    return events


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            continue


def serial(path: str | Path, **fields: object) -> LineScanner:
    config = SerialScannerConfig.model_validate(
        {"driver": "scanner.serial", "id": "dock-in", "path": path, **fields}
    )
    scanner = build_scanner(config)
    assert isinstance(scanner, LineScanner)
    return scanner


def test_serial_reader_in_raw_mode_yields_scan_events(pty: tuple[int, str]) -> None:
    master, path = pty
    scanner = serial(path, baud=115200)
    # The settings belong to the tty, so the master side shows what the driver set.
    iflag, _, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(master)
    assert lflag & (termios.ICANON | termios.ECHO) == 0
    assert iflag & termios.ICRNL == 0
    assert cflag & termios.CSIZE == termios.CS8
    assert ispeed == ospeed == termios.B115200
    assert (cc[termios.VMIN], cc[termios.VTIME]) == (0, 0)

    assert scanner.poll(at(0)) == []  # nothing sent: returns at once
    os.write(master, f"{EAN}\r\n(01)09506000134352(21)7\r".encode())
    events = poll_until(scanner, 2, at(1))

    assert [(e.code, e.gtin, e.direction, e.reader) for e in events] == [
        (EAN, "0" + EAN, "in", "dock-in"),
        ("(01)09506000134352(21)7", "09506000134352", "in", "dock-in"),
    ]
    assert all(e.ts == at(1) for e in events)
    scanner.close()


def test_line_split_across_reads_is_reassembled(pty: tuple[int, str]) -> None:
    master, path = pty
    scanner = serial(path)
    os.write(master, b"400638")
    assert poll_until(scanner, 1, at(0), wait_s=0.2) == []
    os.write(master, b"1333931\n")
    assert [e.code for e in poll_until(scanner, 1, at(1))] == [EAN]


def test_mode_codes_switch_direction_and_are_not_scans(pty: tuple[int, str]) -> None:
    master, path = pty
    scanner = serial(path, direction="in")
    os.write(master, f"{EAN}\nOUT\n{EAN}\n{EAN}\nIN\n{EAN}\n".encode())
    events = poll_until(scanner, 4, at(0))
    assert [e.direction for e in events] == ["in", "out", "out", "in"]
    assert scanner.stats().scans == 4


def test_mode_falls_back_after_idle_timeout(pty: tuple[int, str]) -> None:
    master, path = pty
    scanner = serial(path, direction="in", mode_timeout_s=60)
    os.write(master, f"OUT\n{EAN}\n".encode())
    assert [e.direction for e in poll_until(scanner, 1, at(0))] == ["out"]
    os.write(master, f"{EAN}\n".encode())
    assert [e.direction for e in poll_until(scanner, 1, at(30))] == ["out"]
    os.write(master, f"{EAN}\n".encode())
    assert [e.direction for e in poll_until(scanner, 1, at(91))] == ["in"]


def test_fixed_dock_reader_treats_mode_words_as_codes(pty: tuple[int, str]) -> None:
    master, path = pty
    scanner = serial(path, direction="out", mode_codes={})
    os.write(master, b"IN\n")
    [event] = poll_until(scanner, 1, at(0))
    assert (event.code, event.direction, event.gtin) == ("IN", "out", None)


def test_garbage_lines_are_counted_and_skipped(pty: tuple[int, str]) -> None:
    master, path = pty
    scanner = serial(path)
    os.write(master, b"\xff\xfe\n\x01\x02\n(01)09506000134353\n\n\n" + EAN.encode() + b"\n")
    events = poll_until(scanner, 1, at(0))
    assert [e.code for e in events] == [EAN]
    assert scanner.stats().rejected == 3


def test_endless_line_is_discarded(pty: tuple[int, str]) -> None:
    master, path = pty
    scanner = serial(path)
    noise = b"A" * (MAX_LINE_BYTES + 10)
    os.write(master, noise)
    deadline = time.monotonic() + 5
    while scanner.stats().rejected == 0 and time.monotonic() < deadline:
        scanner.poll(at(0))
        time.sleep(0.005)
    assert scanner.stats().rejected == 1
    os.write(master, f"\n{EAN}\n".encode())
    assert [e.code for e in poll_until(scanner, 1, at(1))] == [EAN]


def test_rfid_repeats_are_deduplicated_within_the_window(pty: tuple[int, str]) -> None:
    master, path = pty
    scanner = serial(path, dedupe_s=2)
    tag = "3074257BF7194E4000001A85"
    os.write(master, f"{tag}\n{tag}\n".encode())
    [event] = poll_until(scanner, 1, at(0))
    assert event.code == "urn:epc:id:sgtin:0614141.812345.6789"
    assert event.gtin == "80614141123458"
    os.write(master, f"{tag}\n".encode())
    assert poll_until(scanner, 1, at(1.5), wait_s=0.2) == []  # still in the portal
    os.write(master, f"{tag}\n".encode())
    assert len(poll_until(scanner, 1, at(5))) == 1  # a new pass
    assert scanner.stats().duplicates == 2


def test_hangup_closes_and_reopens_later(tmp_path: Path) -> None:
    link = tmp_path / "usb-scanner"  # like /dev/serial/by-id/..., absent at start
    scanner = serial(link, reopen_s=5)
    assert scanner.poll(at(0)) == []
    assert not scanner.stats().connected

    master, slave = os.openpty()
    try:
        link.symlink_to(os.ttyname(slave))
        assert scanner.poll(at(1)) == []  # not retried before reopen_s
        assert not scanner.stats().connected
        os.write(master, f"{EAN}\n".encode())
        assert [e.code for e in poll_until(scanner, 1, at(6))] == [EAN]
        assert scanner.stats().connected

        os.close(master)  # unplugged: the tty reports EIO
        assert scanner.poll(at(7)) == []
        assert not scanner.stats().connected
    finally:
        os.close(slave)
        scanner.close()


def test_a_path_that_is_not_a_tty_is_a_setup_error(tmp_path: Path) -> None:
    regular = tmp_path / "not-a-tty"
    regular.write_text("")
    with pytest.raises(DriverError, match="not a serial device"):
        serial(regular)


def wedge(path: Path, **fields: object) -> LineScanner:
    config = LineScannerConfig.model_validate(
        {"driver": "scanner.wedge", "id": "dock-out", "path": path, **fields}
    )
    scanner = build_scanner(config)
    assert isinstance(scanner, LineScanner)
    return scanner


def test_wedge_fifo_survives_writers_coming_and_going(tmp_path: Path) -> None:
    fifo = tmp_path / "wedge"
    os.mkfifo(fifo)
    scanner = wedge(fifo, direction="out")
    assert scanner.poll(at(0)) == []  # no writer yet: empty, not an error

    writer = os.open(fifo, os.O_WRONLY)
    os.write(writer, f"{EAN}\n".encode())
    os.close(writer)
    assert [(e.code, e.direction) for e in scanner.poll(at(1))] == [(EAN, "out")]
    assert scanner.poll(at(2)) == []  # writer gone: end of stream, still fine

    writer = os.open(fifo, os.O_WRONLY)
    os.write(writer, b"https://id.example.com/01/09506000134352/21/X1\n")
    os.close(writer)
    [event] = scanner.poll(at(3))
    assert event.gtin == "09506000134352"
    assert scanner.stats().connected
    scanner.close()


def test_wedge_file_is_read_as_it_grows(tmp_path: Path) -> None:
    path = tmp_path / "scans.txt"
    path.write_text(f"{EAN}\n")
    scanner = wedge(path)
    assert len(scanner.poll(at(0))) == 1
    with path.open("a") as f:
        f.write("OUT\n96385074\n")
    [event] = scanner.poll(at(1))
    assert (event.code, event.direction, event.gtin) == ("96385074", "out", "00000096385074")


def test_stdin_source_is_restored_to_blocking(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    saved = os.dup(0)
    try:
        os.dup2(read_end, 0)
        source = StreamSource(Path("-"))
        source.open()
        assert source.read_available() == b""
        os.write(write_end, b"x\n")
        assert source.read_available() == b"x\n"
        source.close()
        assert os.get_blocking(0)
    finally:
        os.dup2(saved, 0)
        for fd in (saved, read_end, write_end):
            os.close(fd)

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from cloud.codes_cli import codes_app
from cloud.provenance.codes import check_code
from cloud.provenance.errors import IssuanceError
from cloud.provenance.issue import (
    SERIAL_ALPHABET,
    IssuedCode,
    IssueRequest,
    QrFormat,
    generate_serials,
    issue_codes,
    write_batch,
)
from cloud.provenance.keys import Keyring, create_brand_key, load_keyring
from wire.gs1 import Gtin

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
GTIN = Gtin.parse("9506000134352")


def request(count: int = 5, start: str | None = None) -> IssueRequest:
    return IssueRequest("id.brand.example", GTIN, "L2024/07", count, start_serial=start)


def test_sequential_serials_keep_their_width() -> None:
    assert list(generate_serials(request(3, "0098"))) == ["0098", "0099", "0100"]
    with pytest.raises(IssuanceError, match="already issued"):
        list(generate_serials(request(3, "7"), existing={"8"}))


def test_random_serials_are_unique_and_from_the_alphabet() -> None:
    serials = list(generate_serials(request(2000)))
    assert len(set(serials)) == 2000
    assert all(len(s) == 12 and set(s) <= set(SERIAL_ALPHABET) for s in serials)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"count": 0}, "count must be"),
        ({"start_serial": "12a"}, "must be digits"),
        ({"start_serial": "9" * 20, "count": 2}, "exceed 20"),
        ({"serial_length": 4}, "8..20"),
        ({"lot": "L 1"}, "set 82"),
        ({"resolver": "not a host"}, "host name"),
    ],
)
def test_bad_requests(kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {"resolver": "r.example", "gtin": GTIN, "lot": "L1", "count": 1}
    args.update(kwargs)
    with pytest.raises(IssuanceError, match=fragment):
        IssueRequest(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("qr", ["png", "svg", "none"])
def test_batch_output(tmp_path: Path, qr: str) -> None:
    req = request(30)
    fmt: QrFormat = qr  # type: ignore[assignment]
    out = write_batch(req, issue_codes(req, KEY), tmp_path / "batch", qr=fmt, sheet=True)
    rows = list(csv.DictReader((out / "codes.csv").read_text("utf-8").splitlines()))
    assert len(rows) == 30
    ring = Keyring.of(KEY.public_key())
    for row in rows:
        assert check_code(row["code"], ring).valid
        assert row["code"].startswith(row["uri"] + "?")
        if qr == "none":
            assert row["qr_file"] == ""
        else:
            assert (out / row["qr_file"]).stat().st_size > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["count"] == 30
    assert manifest["gtin"] == "09506000134352"
    assert all(v <= 10 for v in manifest["qr_versions"])
    sheet = (out / "sheet.html").read_text()
    assert sheet.count('class="label"') == 30
    assert "@page { size: A4" in sheet
    assert not re.search(r"<script|<link|src=|url\(|@import", sheet)
    assert [p.name for p in tmp_path.iterdir()] == ["batch"]


def test_output_is_atomic(tmp_path: Path) -> None:
    req = request(10)

    def failing() -> Iterator[IssuedCode]:
        codes = issue_codes(req, KEY)
        yield next(codes)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_batch(req, failing(), tmp_path / "batch")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "batch").mkdir()
    with pytest.raises(IssuanceError, match="refusing to overwrite"):
        write_batch(req, issue_codes(req, KEY), tmp_path / "batch")


def test_cli_key_and_issue(tmp_path: Path) -> None:
    runner = CliRunner()
    keys = tmp_path / "keys"
    result = runner.invoke(codes_app, ["key", "new", "--dir", str(keys)])
    assert result.exit_code == 0, result.output
    kid = load_keyring(keys).keys[0].kid
    shown = runner.invoke(codes_app, ["key", "show", "--dir", str(keys)])
    assert kid in shown.output
    args = ["issue", "--gtin", "9506000134352", "--lot", "L1", "--count", "3"]
    args += ["--brand-key", str(keys / f"brand-{kid}.pem"), "--resolver", "id.brand.example"]
    args += ["--out", str(tmp_path / "out"), "--qr", "svg", "--start-serial", "1"]
    result = runner.invoke(codes_app, args)
    assert result.exit_code == 0, result.output
    code = next(csv.DictReader((tmp_path / "out" / "codes.csv").read_text().splitlines()))["code"]
    assert runner.invoke(codes_app, ["verify", code, "--dir", str(keys)]).exit_code == 0
    forged = code.replace("/21/1?", "/21/9?")
    assert runner.invoke(codes_app, ["verify", forged, "--dir", str(keys)]).exit_code == 1
    again = runner.invoke(codes_app, args)
    assert again.exit_code == 2
    assert "refusing to overwrite" in again.output


def test_cli_rejects_a_bad_gtin(tmp_path: Path) -> None:
    path, _ = create_brand_key(tmp_path / "k")
    args = ["issue", "--gtin", "9506000134353", "--lot", "L1", "--count", "1"]
    args += ["--brand-key", str(path), "--resolver", "r.example", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(codes_app, args)
    assert result.exit_code == 2
    assert "expected 2" in result.output

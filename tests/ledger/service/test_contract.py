"""The committed contract artifact is what the source compiles to, and matches our ABI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from ledger.service.anchor import ANCHOR_ABI, ANCHORED_TOPIC, DEFAULT_ARTIFACT
from tests.plugins.services import missing_service_outcome

ROOT = Path(__file__).resolve().parents[3]
SOLC = ROOT / "node_modules" / "solc" / "package.json"


def test_event_topic_is_the_keccak_of_its_signature() -> None:
    assert keccak(text="Anchored(bytes32,uint64)") == ANCHORED_TOPIC


def test_python_abi_is_the_compiled_abi() -> None:
    compiled = json.loads(DEFAULT_ARTIFACT.read_text(encoding="utf-8"))["abi"]
    ours = {(e["type"], e["name"]): e for e in ANCHOR_ABI}
    theirs = {(e["type"], e.get("name")): e for e in compiled}
    for key, entry in ours.items():
        assert theirs[key] == entry


def test_artifact_matches_a_fresh_compile(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not SOLC.is_file():
        reason = "node or solc-js missing: run `npm ci` at the repository root"
        if missing_service_outcome(os.environ) == "fail":
            pytest.fail(reason)
        pytest.skip(reason)
    out = tmp_path / "Anchor.json"
    subprocess.run(
        [node, str(ROOT / "contracts" / "compile.js"), "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert out.read_bytes() == DEFAULT_ARTIFACT.read_bytes(), (
        "contracts/Anchor.json is stale: run `npm run compile:contracts` and commit it"
    )

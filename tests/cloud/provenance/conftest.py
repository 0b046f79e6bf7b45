"""The official EPCIS 2.0 schema and examples from ../shared/standards (tests only).

They sit beside the repository (``Path(repo_root).parent / "shared"``); a user's clone has
nothing there, and the tests that need them skip saying so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

STANDARDS = Path(__file__).resolve().parents[4] / "shared" / "standards" / "epcis"
SCHEMA = STANDARDS / "EPCIS-JSON-Schema.json"
EXAMPLES = sorted(STANDARDS.glob("examples/**/*.jsonld"))
MISSING = f"official EPCIS 2.0 artefacts not found at {STANDARDS} (../shared/standards absent)"


def example_params() -> list[Any]:
    """One parameter per official example, or one skipped placeholder when they are absent."""
    if not EXAMPLES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING), id="no-examples")]
    return [pytest.param(p, id=str(p.relative_to(STANDARDS / "examples"))) for p in EXAMPLES]


def load_example(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data

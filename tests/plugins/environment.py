"""The tests run in ``CT_ENVIRONMENT=development``, set here for the whole session.

Every settings class defaults to production, where the public development secrets (token
secret, ledger keys) are refused and webhooks to private addresses are not allowed. The
tests use those secrets and local receivers on purpose, so the session says development
explicitly, before any settings object is built; the subprocesses the tests start
(``channeltrace cloud ...``, the demo) inherit it. A test of the production rules sets or
removes the variable itself (``monkeypatch``).
"""

from __future__ import annotations

import os

__all__ = ["TEST_ENVIRONMENT"]

TEST_ENVIRONMENT = "development"

os.environ["CT_ENVIRONMENT"] = TEST_ENVIRONMENT

"""A bare FastAPI app serving only the ledger router (for tests that run it in a process).

CT_DATABASE_URL=... python -m uvicorn tests.ledger.service._api_app:app --port N
"""

from __future__ import annotations

from fastapi import FastAPI

from ledger.service.api import router

app = FastAPI(title="ledger router under test")
app.include_router(router)

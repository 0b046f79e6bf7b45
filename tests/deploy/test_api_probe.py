"""The API's compose healthcheck asks a path the app serves without credentials."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.migrate import migrate
from cloud.settings import Settings
from tests.deploy import _deploy as d


@pytest.mark.integration
def test_healthcheck_path_answers_without_credentials(database_url: str) -> None:
    api = d.services(d.load_compose())["api"]
    match = re.search(r"http://127\.0\.0\.1:\d+(/[\w./-]*)", " ".join(api["healthcheck"]["test"]))
    assert match is not None
    migrate(database_url)
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        assert client.get(match.group(1)).status_code == 200

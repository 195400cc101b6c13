"""The integration suite runs against the session's LocalStack (fixtures in tests/conftest.py)."""

import os

import pytest


@pytest.fixture(autouse=True)
def _localstack_credentials(monkeypatch):
    # The top-level fixture sets moto's fake credentials; LocalStack wants its own account's.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    assert "4566" not in os.environ.get("AWS_ENDPOINT_URL", "")

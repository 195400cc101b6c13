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


def pytest_collection_modifyitems(items):
    """The schedule test first (stable sort otherwise): the scheduled iteration must meet the
    session's data lake as deployed, empty, to end as a recorded no-op rather than select the
    feedback the other tests leave and wait on its reviews."""
    items.sort(key=lambda item: item.module.__name__.rsplit(".", 1)[-1] != "test_schedule")

"""Fixtures shared by every suite: credentials that can never reach a real account, and moto."""

import pytest
from moto import mock_aws

from tests.support.lambdas import InProcessLambdas

MOTO_CONFIG = {
    # Runs the real ASL (Choice, Retry/Catch, Map, .waitForTaskToken) instead of a stub result.
    "stepfunctions": {"execute_state_machine": True},
    # Keeping the boto3 session across tests cuts per-test time several-fold (measured in
    # shared/DESIGN.md); the mock still isolates state per test.
    "core": {"reset_boto3_session": False},
}


@pytest.fixture(autouse=True)
def _offline_aws_environment(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "textloop",
        "POWERTOOLS_METRICS_NAMESPACE": "textloop",
        # No X-Ray daemon in tests; the tracer is exercised on AWS and stays a no-op here.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def aws():
    with mock_aws(config=MOTO_CONFIG):
        yield


@pytest.fixture
def lambdas(aws, monkeypatch) -> InProcessLambdas:
    runner = InProcessLambdas()
    runner.install(monkeypatch)
    return runner

"""Fixtures shared by every suite: credentials that can never reach a real account, moto, and
(for the integration and browser suites) one LocalStack with the stack applied per session."""

import os
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from tests.support import REPO
from tests.support.iteration_stack import settle_executions
from tests.support.lambdas import InProcessLambdas
from textloop_ops import localstack
from textloop_ops.terraform import local_stack

# Set to a state dir (e.g. .localstack after `make deploy-local`) to reuse a running stack
# instead of starting LocalStack and applying Terraform for the session.
EXISTING_STACK = os.environ.get("TEXTLOOP_TEST_STATE_DIR")
SCHEDULE_EXPRESSION = "rate(1 minute)"
# Terraform's iteration_schedules (HCL): a rule per model type, both disabled (see stack()).
TEST_ITERATION_SCHEDULES = (
    f'{{ DOCUMENT_CLASSIFIER = {{ expression = "{SCHEDULE_EXPRESSION}", enabled = false }},'
    f' ENTITY_RECOGNIZER = {{ expression = "{SCHEDULE_EXPRESSION}", enabled = false }} }}'
)

# The client applications of the session's stack (Terraform's client_applications, as HCL).
# The first by id, demo, is the stack's `api_key`; support-desk uploads the integration suite's
# corrections and is trusted, so they train the next model without a review of each.
TEST_CLIENT_APPLICATIONS = (
    '{ demo = {}, partner = { daily_quota = 5000 }, "support-desk" = { trusted = true },'
    ' "e2e-desk" = {} }'
)

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
    yield runner
    # moto runs executions in threads that outlive the test, and after the reset their steps
    # call the next test's mock: a Prepare that had not run yet would take that test's lock.
    settle_executions()


@pytest.fixture(scope="session")
def aws_call_log(tmp_path_factory) -> Path:
    """The JSON lines file the host Lambda executor appends each deployed function's AWS calls
    to (for the least-privilege check, tests/integration/test_least_privilege.py)."""
    return tmp_path_factory.mktemp("aws-calls") / "aws-calls.jsonl"


@pytest.fixture(scope="session")
def localstack_endpoint(tmp_path_factory, aws_call_log):
    """LocalStack on the host, on a free port, for the whole session. Nothing here skips: a
    missing toolchain or a LocalStack that does not start fails the suite."""
    if EXISTING_STACK:
        yield localstack.endpoint(Path(EXISTING_STACK))
        return
    state_dir = tmp_path_factory.mktemp("localstack")
    info = localstack.start(state_dir, extra_env={"TEXTLOOP_AWS_CALL_LOG": str(aws_call_log)})
    try:
        yield info["endpoint"]
    finally:
        localstack.stop(state_dir)


def pytest_collection_modifyitems(config, items):
    # The least-privilege check reads the calls every other test made: it runs last.
    items.sort(key=lambda item: item.module.__name__.endswith("test_least_privilege"))


@pytest.fixture(scope="session")
def stack(localstack_endpoint, tmp_path_factory) -> dict:
    """terraform/envs/local applied onto that LocalStack; its outputs."""
    if EXISTING_STACK:
        return local_stack(Path(EXISTING_STACK)).outputs()
    work = tmp_path_factory.mktemp("terraform")
    tf = local_stack(state_dir=work, data_dir=work / "data")
    tf.init()
    tf.apply(
        {
            "localstack_endpoint": localstack_endpoint,
            "python_executable": str(REPO / ".venv" / "bin" / "python"),
            "client_applications": TEST_CLIENT_APPLICATIONS,
            # The schedule rules exist, disabled: tests/integration/test_schedule.py arms the
            # classifier's for one run (an armed rule would start iterations under the other
            # tests' feet).
            "iteration_schedules": TEST_ITERATION_SCHEDULES,
        }
    )
    return tf.outputs()


@pytest.fixture(scope="session")
def aws_client(localstack_endpoint):
    def make(service: str):
        return boto3.client(
            service,
            endpoint_url=localstack_endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    return make

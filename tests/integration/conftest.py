"""One LocalStack on the host, on a free port, with the stack applied by Terraform, per session.

Nothing here skips: a missing toolchain or a LocalStack that does not start fails the suite,
because a green run must mean the deployed stack was exercised.
"""

import os
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from textloop_ops import localstack
from textloop_ops.terraform import local_stack

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def localstack_endpoint(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("localstack")
    info = localstack.start(state_dir)
    try:
        yield info["endpoint"]
    finally:
        localstack.stop(state_dir)


@pytest.fixture(scope="session")
def stack(localstack_endpoint, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("terraform")
    tf = local_stack(state_dir=work, data_dir=work / "data")
    tf.init()
    tf.apply(
        {
            "localstack_endpoint": localstack_endpoint,
            "python_executable": str(REPO / ".venv" / "bin" / "python"),
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


@pytest.fixture(autouse=True)
def _localstack_credentials(monkeypatch):
    # The top-level fixture sets moto's fake credentials; LocalStack wants its own account's.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    assert "4566" not in os.environ.get("AWS_ENDPOINT_URL", "")

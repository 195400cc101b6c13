"""A LocalStack for the whole session, started through textloop_ops.localstack on a free port.

Run with LocalStack's venv: ``.venv-localstack/bin/python -m pytest local-emulator/tests``.
Set ``TEXTLOOP_TEST_LOCALSTACK_ENDPOINT`` to reuse an already running LocalStack instead.
"""

from __future__ import annotations

import os
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from emulator_helpers import pid_alive, wait_active, zip_files

# The module the Makefile runs (pytest runs from the repository root, which is on the path).
from textloop_ops import localstack as localstack_control

SERVICES = "s3,lambda,logs,iam,sts,dynamodb,kms"


@pytest.fixture(scope="session")
def lambda_pids() -> set[int]:
    """PIDs of function processes seen by tests; all must be gone once LocalStack stopped."""
    return set()


@pytest.fixture(scope="session")
def localstack(tmp_path_factory, lambda_pids):
    reuse = os.environ.get("TEXTLOOP_TEST_LOCALSTACK_ENDPOINT")
    if reuse:
        yield {"endpoint": reuse.rstrip("/"), "pid": None, "port": None}
        return
    state_dir = tmp_path_factory.mktemp("localstack")
    info = localstack_control.start(state_dir, services=SERVICES)
    assert info["port"] != 4566
    try:
        yield info
    finally:
        localstack_control.stop(state_dir)
        assert not (state_dir / "pid").exists()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(map(pid_alive, lambda_pids)):
            time.sleep(0.2)
        orphans = sorted(pid for pid in lambda_pids if pid_alive(pid))
        assert not orphans, f"function processes outlived LocalStack: {orphans}"


@pytest.fixture(scope="session")
def endpoint(localstack) -> str:
    return localstack["endpoint"]


@pytest.fixture(scope="session")
def client(endpoint):
    def make(service: str, **kwargs):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 0}, read_timeout=120),
            **kwargs,
        )

    return make


@pytest.fixture(scope="session")
def create_function(client):
    lam = client("lambda")

    def create(
        files: dict[str, str],
        handler: str = "app.handler",
        timeout: int = 10,
        environment: dict[str, str] | None = None,
        layers: list[str] | None = None,
        runtime: str = "python3.13",
    ) -> str:
        name = f"fn-{uuid.uuid4().hex[:10]}"
        kwargs = {}
        if environment:
            kwargs["Environment"] = {"Variables": environment}
        if layers:
            kwargs["Layers"] = layers
        lam.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role="arn:aws:iam::000000000000:role/lambda-role",
            Handler=handler,
            Code={"ZipFile": zip_files(files)},
            Timeout=timeout,
            **kwargs,
        )
        conf = wait_active(lam, name)
        if runtime.startswith("python"):
            assert conf["State"] == "Active", conf
        return name

    return create

"""A LocalStack of the benchmarks' own, with the stack applied by Terraform and a first model.

Never port 4566 (``textloop_ops.localstack.start`` picks a free port); its own state and
Terraform data dirs; a stage of its own (``bench`` + digits), so bucket and function names
differ from those of the integration tests, which may run a LocalStack on this machine at the
same time (instances share /tmp/localstack-s3-storage). LocalStack is stopped in ``finally``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config
from textloop.adapters.people import mint_local_token
from textloop.domain import layout
from textloop.domain.identity import GROUPS, MAX_LOCAL_TOKEN_MINUTES, TokenIssuer, local_claims

from bench.perf.common import REPO, ag_news_rows
from textloop_ops import localstack
from textloop_ops.terraform import cache_dir, local_stack

SEED_ROWS = 400  # as tests/integration/test_loop.py: the bootstrap model's training slice


class Stack:
    """What the benchmarks need of a deployed stack: outputs, clients and the HTTP API."""

    def __init__(self, endpoint: str, outputs: dict[str, Any], timings: dict[str, float]):
        self.endpoint = endpoint
        self.outputs = outputs
        self.timings = timings
        self.session = requests.Session()
        self.session.headers["x-api-key"] = outputs["api_key"]
        # One session plays the client application (the key) and the person driving iterations
        # and reviews (a token of the stack's local issuer); each route reads its own header.
        self.session.headers["authorization"] = f"Bearer {self._bench_token()}"
        # LocalStack is local: never route its requests through a proxy from the environment.
        self.session.trust_env = False
        self.base = outputs["api_url"]
        self.localstack_log: Path | None = None

    def _bench_token(self) -> str:
        issuer = self.outputs["people_token_issuer"]
        claims = local_claims(
            user="bench-person",
            groups=list(GROUPS),
            issuer=TokenIssuer(issuer["issuer"], issuer["audience"]),
            now=int(time.time()),
            minutes=MAX_LOCAL_TOKEN_MINUTES,
            token_id=secrets.token_hex(12),
        )
        return mint_local_token(self.client("kms"), self.outputs["people_token_key_arn"], claims)

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",  # noqa: S106 - LocalStack's fixed local credentials
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def api(self, method: str, path: str, body=None, expect: int | None = None, timeout=120):
        response = self.session.request(
            method, f"{self.base}{path.lstrip('/')}", json=body, timeout=timeout
        )
        if expect is not None and response.status_code != expect:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response

    def wait_for_iteration(self, iteration_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.api("GET", f"/iterations/{iteration_id}", expect=200).json()
            if body["status"] != "RUNNING":
                return body
            time.sleep(1)
        raise TimeoutError(f"iteration {iteration_id} still RUNNING after {timeout} s")

    def bootstrap(self, config: dict | None = None) -> dict:
        """The bootstrap iteration of test_loop.py: seed data only, trained and promoted
        (``config``: more iteration settings, e.g. ``{"local_model": "tfidf+embeddings"}``)."""
        seed = io.StringIO()
        csv.writer(seed, lineterminator="\n").writerows(ag_news_rows()[:SEED_ROWS])
        self.client("s3").put_object(
            Bucket=self.outputs["data_lake_bucket"],
            Key=layout.seed_key("DOCUMENT_CLASSIFIER"),
            Body=seed.getvalue().encode(),
        )
        t0 = time.perf_counter()
        started = self.api(
            "POST",
            "/iterations",
            {"model_type": "DOCUMENT_CLASSIFIER", "config": {**(config or {}), "min_new_items": 0}},
            expect=202,
        ).json()
        result = self.wait_for_iteration(started["iteration_id"])
        self.timings["bootstrap_iteration_s"] = time.perf_counter() - t0
        if result["status"] != "SUCCEEDED":
            raise RuntimeError(f"bootstrap iteration failed: {result}")
        return self.api("GET", "/models/active?model_type=DOCUMENT_CLASSIFIER", expect=200).json()


@contextlib.contextmanager
def deployed(
    workdir: Path | None = None, stage: str | None = None, bootstrap: dict | None = None
) -> Iterator[Stack]:
    """Start LocalStack, apply terraform/envs/local, bootstrap a model (``bootstrap``: its
    iteration settings); stop it all after."""
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="textloop-bench-ls-")) if own else workdir
    state_dir, tf_dir = root / "localstack", root / "terraform"
    state_dir.mkdir(parents=True, exist_ok=True)
    tf_dir.mkdir(parents=True, exist_ok=True)
    # A fresh stage per run: a bucket left in the shared S3 storage by an earlier run (or by
    # someone else) must not collide with this one's.
    stage = stage or f"bench{random.randint(1000, 9999)}"  # noqa: S311 - a name, not a secret
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    localstack.start(state_dir)
    timings["localstack_start_s"] = time.perf_counter() - t0
    try:
        endpoint = localstack.endpoint(state_dir)
        if endpoint.rstrip("/").endswith(":4566"):
            raise RuntimeError("refusing to use port 4566")
        tf = local_stack(state_dir=tf_dir, data_dir=tf_dir / "data")
        variables = {
            "localstack_endpoint": endpoint,
            "python_executable": str(REPO / ".venv" / "bin" / "python"),
            "stage": stage,
        }
        build_cache = os.environ.get("TEXTLOOP_BUILD_CACHE") or str(cache_dir() / "build")
        variables["build_cache_dir"] = build_cache
        t0 = time.perf_counter()
        tf.init()
        tf.apply(variables, capture=True)
        timings["terraform_apply_s"] = time.perf_counter() - t0
        stack = Stack(endpoint, tf.outputs(), timings)
        stack.outputs["stage"] = stage
        # Where LocalStack says why a request failed (e.g. API Gateway's integration errors).
        stack.localstack_log = state_dir / "localstack.log"
        stack.bootstrap(bootstrap)
        yield stack
    finally:
        localstack.stop(state_dir)
        if own:
            # The unzipped functions and layer are thousands of small files: deleting them takes
            # minutes on a busy disk, so it runs detached instead of holding up the results.
            subprocess.Popen(  # noqa: S603 - fixed argv on our own temp dir
                ["/bin/rm", "-rf", str(root)], start_new_session=True
            )

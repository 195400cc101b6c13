"""Capacity settings that the deployment's promised figures depend on."""

import re

from bench.perf import http_latency
from tests.support import REPO


def _variable_default(name: str) -> str:
    variables = (REPO / "terraform" / "modules" / "textloop" / "variables.tf").read_text()
    block = variables.split(f'variable "{name}"', 1)[1].split("\nvariable ", 1)[0]
    return re.search(r"^\s*default\s*=\s*(\S+)", block, re.MULTILINE).group(1)


def test_classify_reserves_an_environment_for_every_benchmarked_client():
    # Each request in flight holds one classify environment until it answers (for seconds
    # while environments start cold); a request beyond the reserved concurrency is throttled
    # and API Gateway answers 5xx. Issue 14's 32 concurrent clients got 502s from 10.
    reserved = int(_variable_default("classify_reserved_concurrency"))
    assert reserved >= max(http_latency.CLIENTS)


def test_reserved_concurrency_is_on_by_default():
    # Without it classify has no concurrency of its own and the check above means nothing.
    assert _variable_default("enable_reserved_concurrency") == "true"

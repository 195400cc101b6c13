"""boto3 clients built once per process, with a seam for the services moto does not emulate.

Handlers ask ``Clients.get(name)`` instead of building clients at import time, so a cold start
pays only for the clients a path uses. ``override(name, client)`` makes every handler in the
process use the given client (tests put a botocore ``Stubber``-wrapped client there for A2I
runtime and Comprehend training, which moto lacks).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import ClientError

_overrides: dict[str, Any] = {}


@contextmanager
def override(name: str, client: Any) -> Iterator[Any]:
    previous = _overrides.get(name)
    _overrides[name] = client
    try:
        yield client
    finally:
        if previous is None:
            _overrides.pop(name, None)
        else:
            _overrides[name] = previous


class Clients:
    def __init__(self, **configs: Any):
        self._configs = configs
        self._built: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        return self.get_configured(name, self._configs.get(name))

    def get_configured(self, name: str, config: Any) -> Any:
        """The client ``name`` built with ``config`` (the first call's config wins)."""
        if name in _overrides:
            return _overrides[name]
        if name not in self._built:
            self._built[name] = boto3.client(name, config=config) if config else boto3.client(name)
        return self._built[name]


def error_code(exc: ClientError) -> str:
    """The AWS error code of a failed call (``NoSuchKey``, ``ConditionalCheckFailedException``)."""
    return str(exc.response.get("Error", {}).get("Code", ""))

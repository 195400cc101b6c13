"""The facts feedback is checked against (``domain.model_facts``), read from where they live and
cached per Lambda instance.

* the active version: the active-model pointer (SSM, ``adapters.active_model``);
* the versions that served: the registry's promotions and rollbacks (DynamoDB Query), when the
  function has the registry table;
* a version's labels: its ``metadata.json`` (local models: the classes it was fitted on), else
  its ``evaluation.json`` (every trained candidate, Comprehend ones included).

One read of each per ``ttl_seconds``; a version missing from the cached set triggers one early
re-read (at most every ``min_refresh_seconds``), so feedback on a model promoted a moment ago is
not refused, and a flood of made-up versions costs one read per interval, not one per request.
A version's labels never change (versions are written once) and are kept.

Environment: ACTIVE_MODEL_PARAMETER_PREFIX, REGISTRY_TABLE (optional), DATA_LAKE_BUCKET.
AWS: ssm:GetParameter (the pointer), dynamodb:Query (registry history), s3:GetObject (models/*).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.active_model import ActiveModelPointerStore
from textloop.adapters.clients import error_code
from textloop.adapters.registry import Registry
from textloop.domain import layout, model_facts
from textloop.domain.model_facts import ModelFacts
from textloop.domain.validation import FieldError

# Without ListBucket, S3 answers 403 rather than 404 for a missing key.
_MISSING = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403"})


class ModelCatalog:
    def __init__(
        self,
        *,
        pointer_store: Callable[[str], ActiveModelPointerStore],
        s3_client: Any,
        bucket: str,
        registry: Registry | None,
        ttl_seconds: float = 60.0,
        min_refresh_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        logger: Any = None,
    ):
        self._pointer_store = pointer_store
        self.s3 = s3_client
        self.bucket = bucket
        self.registry = registry
        self.ttl_seconds = ttl_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._clock = clock
        self._logger = logger
        self._facts: dict[str, tuple[ModelFacts, float]] = {}
        self._labels: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()
        self.reads = 0  # fact refreshes (for tests)

    def facts(self, model_type: str, *, expecting: str | None = None) -> ModelFacts:
        """The facts of ``model_type``; ``expecting``: a version the caller was told about,
        worth one early re-read when the cached facts do not know it."""
        with self._lock:
            now = self._clock()
            cached = self._facts.get(model_type)
            if cached is not None:
                facts, read_at = cached
                fresh = now - read_at < self.ttl_seconds
                stale_miss = (
                    expecting is not None
                    and expecting not in facts.known_versions
                    and now - read_at >= self.min_refresh_seconds
                )
                if fresh and not stale_miss:
                    return facts
            facts = self._read(model_type)
            self._facts[model_type] = (facts, now)
            self.reads += 1
            return facts

    def labels_of(self, model_version: str) -> frozenset[str] | None:
        """The labels (entity types) a model version knows; None when no document says."""
        if model_version in self._labels:
            return self._labels[model_version]
        for key in (layout.metadata_key(model_version), layout.evaluation_key(model_version)):
            labels = model_facts.labels_in(self._get_json(key))
            if labels is not None:
                self._labels[model_version] = labels
                return labels
        return None

    def feedback_errors(self, request: Mapping[str, Any]) -> list[FieldError]:
        """A parsed POST /feedback request against the facts: its model version must have
        served, its labels (predicted and corrected) be known to that version or the active
        one."""
        version = request["model_version"]
        facts = self.facts(request["model_type"], expecting=version)
        errors = model_facts.version_errors(version, facts)
        if errors:
            return errors
        allowed = _union(facts.labels, self.labels_of(version))
        return model_facts.label_errors(request, allowed)

    # ------------------------------------------------------------------ reading

    def _read(self, model_type: str) -> ModelFacts:
        pointer = self._pointer_store(model_type).current()
        versions: set[str] = set()
        if pointer is not None:
            versions.add(pointer.model_version)
        if self.registry is not None:
            versions.update(
                e["model_version"]
                for e in self.registry.history(model_type)
                if isinstance(e.get("model_version"), str)
            )
        labels = self.labels_of(pointer.model_version) if pointer is not None else None
        return ModelFacts(
            model_type=model_type,
            active_version=pointer.model_version if pointer is not None else None,
            labels=labels,
            known_versions=frozenset(versions),
        )

    def _get_json(self, key: str) -> Any:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            raise
        try:
            return json.loads(body)
        except ValueError:
            if self._logger is not None:
                self._logger.warning("model document is not JSON", extra={"key": key})
            return None


def _union(*sets: frozenset[str] | None) -> frozenset[str] | None:
    known = [s for s in sets if s is not None]
    return frozenset().union(*known) if known else None

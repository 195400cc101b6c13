"""The active-model pointer in SSM Parameter Store: reading it (with the per-process model
cache of the classify path) and moving it (promotion and rollback share ``move_pointer``).

The classify Lambda keeps one ``ActiveModelProvider`` per model_type at module level. Each
invocation calls ``current()``: the pointer is re-read from SSM at most every
``max_age_seconds`` (GetParameter is throttled at 40 TPS on standard throughput, far below
the classify API's rate); the model is (re)loaded only when the pointer's SSM Version moved AND
its content changed, so a promote is picked up within ``max_age_seconds`` and a rewrite of the
same value costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code
from textloop.adapters.registry import Registry
from textloop.domain.backends import BackendUnavailable, ModelBackend
from textloop.domain.names import Backend, ModelType
from textloop.domain.resources import tags_parameter
from textloop.domain.thresholds import Thresholds, override_for, resolve_thresholds
from textloop.domain.timestamps import format_timestamp
from textloop.domain.validation import InvalidInput, parse_json_body, validator

ACTIVE_MODEL_POINTER = "active-model-pointer.v1"


@dataclass(frozen=True)
class ActiveModelPointer:
    model_version: str
    backend: str
    model_type: str
    mode: str | None = None
    artefact_uri: str | None = None
    endpoint_arn: str | None = None
    thresholds: Mapping[str, Any] | None = field(default=None, compare=True)
    promoted_at: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> ActiveModelPointer:
        errors = validator(ACTIVE_MODEL_POINTER).errors(data)
        if errors:
            raise InvalidInput(errors)
        return cls(**data)

    @classmethod
    def from_json(cls, value: str) -> ActiveModelPointer:
        data, errors = parse_json_body(value)
        if errors:
            raise InvalidInput(errors)
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "model_version": self.model_version,
            "backend": self.backend,
            "model_type": self.model_type,
        }
        for name in ("mode", "artefact_uri", "endpoint_arn", "promoted_at"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.thresholds is not None:
            out["thresholds"] = dict(self.thresholds)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def pointer_parameter_name(prefix: str, model_type: str) -> str:
    """``<prefix>/active-model/<model_type>``.

    E.g. ``/textloop/dev/active-model/DOCUMENT_CLASSIFIER``.
    """
    return f"{prefix.rstrip('/')}/active-model/{ModelType(model_type).value}"


class ActiveModelPointerStore:
    """Reads and writes the pointer; reads are cached for ``max_age_seconds``."""

    def __init__(
        self,
        ssm_client: Any,
        parameter_name: str,
        *,
        max_age_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ssm = ssm_client
        self.parameter_name = parameter_name
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._cached: tuple[ActiveModelPointer, int] | None = None
        self._read_at = float("-inf")
        self.reads = 0  # SSM calls made (for tests and metrics)

    def get(self) -> tuple[ActiveModelPointer, int]:
        """``(pointer, SSM Version)``."""
        now = self._clock()
        if self._cached is not None and now - self._read_at < self.max_age_seconds:
            return self._cached
        response = self.ssm.get_parameter(Name=self.parameter_name)
        self.reads += 1
        parameter = response["Parameter"]
        version = int(parameter["Version"])
        if self._cached is None or self._cached[1] != version:
            self._cached = (ActiveModelPointer.from_json(parameter["Value"]), version)
        self._read_at = now
        return self._cached

    def current(self) -> ActiveModelPointer | None:
        """The pointer, or None when no model was promoted yet."""
        try:
            pointer, _ = self.get()
        except ClientError as exc:
            if error_code(exc) == "ParameterNotFound":
                return None
            raise
        return pointer

    def put(self, pointer: ActiveModelPointer) -> int:
        """Move the pointer (PromoteCandidate and rollback); returns the new SSM Version."""
        ActiveModelPointer.from_dict(pointer.to_dict())  # validate before publishing
        response = self.ssm.put_parameter(
            Name=self.parameter_name, Value=pointer.to_json(), Type="String", Overwrite=True
        )
        self._cached = None
        return int(response["Version"])


@dataclass(frozen=True)
class ActiveModel:
    pointer: ActiveModelPointer
    version: int
    backend: ModelBackend
    thresholds: Thresholds


class ActiveModelProvider:
    """The loaded model for one pointer, reloaded when the pointer moves.

    ``loader(pointer)`` builds the back-end (see ``backend_loader``). ``threshold_override``
    (e.g. parsed from an environment variable with ``thresholds.parse_override``; a section per
    model type applies to its own) wins over the pointer's thresholds, which win over the model
    metadata's, which win over the model type's defaults (``thresholds.default_thresholds``).
    """

    def __init__(
        self,
        store: ActiveModelPointerStore,
        loader: Callable[[ActiveModelPointer], ModelBackend],
        *,
        threshold_override: Mapping[str, Any] | None = None,
    ):
        self.store = store
        self.loader = loader
        self.threshold_override = threshold_override
        self._active: ActiveModel | None = None
        self._lock = threading.Lock()
        self.loads = 0

    def current(self) -> ActiveModel:
        with self._lock:
            pointer, version = self.store.get()
            active = self._active
            if active is not None and active.version == version:
                return active
            if active is not None and active.pointer == pointer:
                self._active = ActiveModel(pointer, version, active.backend, active.thresholds)
                return self._active
            backend = self.loader(pointer)
            self.loads += 1
            metadata_thresholds = getattr(backend, "thresholds", None)
            thresholds = resolve_thresholds(
                metadata_thresholds,
                pointer.thresholds,
                override_for(self.threshold_override, pointer.model_type),
                model_type=pointer.model_type,
            )
            self._active = ActiveModel(pointer, version, backend, thresholds)
            return self._active


def backend_loader(
    *,
    artefact_store: Any = None,
    comprehend_client: Any = None,
) -> Callable[[ActiveModelPointer], ModelBackend]:
    """A ``loader`` for ``ActiveModelProvider``: local artefacts via ``ModelArtefactStore``,
    Comprehend endpoints via a client built with ``comprehend.client_config()``."""

    def load(pointer: ActiveModelPointer) -> ModelBackend:
        if pointer.backend == Backend.LOCAL:
            if artefact_store is None:
                raise BackendUnavailable("the local back-end needs an artefact store")
            backend = artefact_store.load_local_backend(pointer.artefact_uri)
            if backend.model_version != pointer.model_version:
                raise BackendUnavailable(
                    f"{pointer.artefact_uri} holds {backend.model_version}, "
                    f"the pointer says {pointer.model_version}"
                )
            if backend.model_type != pointer.model_type:
                raise BackendUnavailable(
                    f"{pointer.artefact_uri} holds model type {backend.model_type}, "
                    f"the pointer is for {pointer.model_type}"
                )
            return backend
        if pointer.backend == Backend.COMPREHEND:
            if comprehend_client is None:
                raise BackendUnavailable("the comprehend back-end needs a Comprehend client")
            from textloop.adapters.comprehend_endpoint import ComprehendBackend

            return ComprehendBackend(
                comprehend_client,
                endpoint_arn=pointer.endpoint_arn or "",
                model_type=pointer.model_type,
                mode=pointer.mode,
                model_version=pointer.model_version,
            )
        raise BackendUnavailable(f"unknown back-end {pointer.backend!r}")

    return load


# --------------------------------------------------------------------------- moving the pointer
#
# Order: the Comprehend endpoint first (UpdateEndpoint, or CreateEndpoint the first time, when
# the pointer names an endpoint), then the SSM pointer, then the registry row. The row is written
# last and conditionally, keyed by the event (the iteration id for a promotion), so a retried
# step sees the row and does nothing new; a step that died before the row re-runs the idempotent
# calls before it.


def move_pointer(
    *,
    registry: Registry,
    pointer_store: ActiveModelPointerStore,
    comprehend: Any,
    event_id: str,
    kind: str,
    pointer: ActiveModelPointer,
    model_arn: str | None,
    metrics: Mapping[str, Any] | None,
    reason: str,
    iteration_id: str | None,
    now: datetime | None = None,
    inference_units: int = 1,
    tags: Sequence[Mapping[str, str]] = (),
    data_access_role_arn: str | None = None,
    flywheel_arn: str | None = None,
) -> dict[str, Any]:
    """Point ``pointer.model_type`` at ``pointer``; record ``kind`` (promotion | rollback).

    ``model_arn``: the Comprehend classifier or recogniser version the pointer's endpoint must
    serve (None for a local model); the registry row keeps it under ``MODEL_ARN_FIELDS``.
    ``tags``: the stack's run-time tags, for the endpoint if this move creates it.
    ``data_access_role_arn``: the role the endpoint reads a model encrypted with a customer
    managed key through (a flywheel's versions).
    ``flywheel_arn``: the flywheel that trained ``model_arn`` (flywheel mode): its
    ActiveModelArn moves too, so its next iteration competes with the model that serves; the
    registry row keeps it, so a rollback to this version moves the flywheel back as well."""
    done = registry.event(pointer.model_type, event_id)
    if done is not None:
        return {**_result(done), "changed": False}
    now = now or datetime.now(UTC)
    previous = pointer_store.current()
    pointer = replace(pointer, promoted_at=format_timestamp(now))
    if pointer.endpoint_arn and model_arn:
        serve_with_endpoint(
            comprehend,
            pointer.endpoint_arn,
            model_arn,
            inference_units=inference_units,
            tags=tags,
            data_access_role_arn=data_access_role_arn,
        )
        if flywheel_arn:
            # Before the pointer and the registry row: a retry after a crash repeats it (the
            # same value again changes nothing).
            comprehend.update_flywheel(FlywheelArn=flywheel_arn, ActiveModelArn=model_arn)
    version = pointer_store.put(pointer)
    entry = {
        "event_id": event_id,
        "kind": kind,
        "model_version": pointer.model_version,
        "previous_model_version": previous.model_version if previous else None,
        "promoted_at": pointer.promoted_at,
        "pointer": pointer.to_dict(),
        "pointer_version": version,
        MODEL_ARN_FIELDS[ModelType(pointer.model_type).value]: model_arn,
        "metrics": dict(metrics) if metrics else None,
        "thresholds": dict(pointer.thresholds) if pointer.thresholds else None,
        "status": "TRAINED",
        "reason": reason,
        "iteration_id": iteration_id,
    }
    if flywheel_arn:
        entry["flywheel_arn"] = flywheel_arn
    if not registry.record(pointer.model_type, event_id, entry):
        entry = registry.event(pointer.model_type, event_id) or entry
    return {**_result(entry), "changed": True}


# The registry row's name for the Comprehend model version a promotion served, per model type
# (Comprehend's own: DocumentClassifierArn, EntityRecognizerArn).
MODEL_ARN_FIELDS = {
    ModelType.DOCUMENT_CLASSIFIER.value: "classifier_arn",
    ModelType.ENTITY_RECOGNIZER.value: "recognizer_arn",
}


def registry_model_arn(entry: Mapping[str, Any]) -> str | None:
    """The Comprehend model version a registry row's promotion served (None: a local model)."""
    return entry.get("classifier_arn") or entry.get("recognizer_arn")


def serve_with_endpoint(
    comprehend: Any,
    endpoint_arn: str,
    model_arn: str,
    *,
    inference_units: int = 1,
    tags: Sequence[Mapping[str, str]] = (),
    data_access_role_arn: str | None = None,
) -> str:
    """Make the Comprehend endpoint serve ``model_arn`` (a classifier or recogniser version,
    the endpoint's kind must match): UpdateEndpoint, or CreateEndpoint
    (``inference_units``) when it does not exist yet, the first promotion of a deployment
    (an endpoint needs a trained model, so Terraform cannot create it before the first one),
    tagged with ``tags`` (the stack's run-time tags: ``textloop resources`` finds it by them).
    Returns ``updated`` or ``created``. The endpoint answers 503 until it is IN_SERVICE."""
    # A model encrypted with a customer managed key (a flywheel's) is read through a role.
    role = {"DesiredDataAccessRoleArn": data_access_role_arn} if data_access_role_arn else {}
    try:
        comprehend.update_endpoint(EndpointArn=endpoint_arn, DesiredModelArn=model_arn, **role)
        return "updated"
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    token = hashlib.sha256(f"{endpoint_arn}\n{model_arn}".encode()).hexdigest()[:64]
    comprehend.create_endpoint(
        EndpointName=endpoint_arn.rsplit("/", 1)[-1],
        ModelArn=model_arn,
        DesiredInferenceUnits=inference_units,
        ClientRequestToken=token,
        **tags_parameter(tags),
        **({"DataAccessRoleArn": data_access_role_arn} if data_access_role_arn else {}),
    )
    return "created"


def _result(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "promoted": True,
        "model_version": entry["model_version"],
        "previous_model_version": entry["previous_model_version"],
        "pointer_version": entry["pointer_version"],
        "promoted_at": entry["promoted_at"],
    }

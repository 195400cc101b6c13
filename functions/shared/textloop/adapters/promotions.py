"""Moving the active-model pointer: the promote step and the rollback API share this path.

Order: the Comprehend endpoint first (UpdateEndpoint, or CreateEndpoint the first time, when the
pointer names an endpoint), then
the SSM pointer, then the registry row. The row is written last and conditionally, keyed by the
event (the iteration id for a promotion), so a retried step sees the row and does nothing new;
a step that died before the row re-runs the idempotent calls before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.active_model import ActiveModelPointer, ActiveModelPointerStore
from textloop.adapters.lake import error_code
from textloop.adapters.registry import Registry
from textloop.annotations import format_timestamp


def current_pointer(store: ActiveModelPointerStore) -> ActiveModelPointer | None:
    try:
        pointer, _ = store.get()
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            return None
        raise
    return pointer


def move_pointer(
    *,
    registry: Registry,
    pointer_store: ActiveModelPointerStore,
    comprehend: Any,
    event_id: str,
    kind: str,
    pointer: ActiveModelPointer,
    classifier_arn: str | None,
    metrics: Mapping[str, Any] | None,
    reason: str,
    iteration_id: str | None,
    now: datetime | None = None,
    inference_units: int = 1,
) -> dict[str, Any]:
    """Point ``pointer.model_type`` at ``pointer``; record ``kind`` (promotion | rollback)."""
    done = registry.event(pointer.model_type, event_id)
    if done is not None:
        return {**_result(done), "changed": False}
    now = now or datetime.now(UTC)
    previous = current_pointer(pointer_store)
    pointer = replace(pointer, promoted_at=format_timestamp(now))
    if pointer.endpoint_arn and classifier_arn:
        serve_with_endpoint(
            comprehend, pointer.endpoint_arn, classifier_arn, inference_units=inference_units
        )
    version = pointer_store.put(pointer)
    entry = {
        "event_id": event_id,
        "kind": kind,
        "model_version": pointer.model_version,
        "previous_model_version": previous.model_version if previous else None,
        "promoted_at": pointer.promoted_at,
        "pointer": pointer.to_dict(),
        "pointer_version": version,
        "classifier_arn": classifier_arn,
        "metrics": dict(metrics) if metrics else None,
        "thresholds": dict(pointer.thresholds) if pointer.thresholds else None,
        "status": "TRAINED",
        "reason": reason,
        "iteration_id": iteration_id,
    }
    if not registry.record(pointer.model_type, event_id, entry):
        entry = registry.event(pointer.model_type, event_id) or entry
    return {**_result(entry), "changed": True}


def serve_with_endpoint(
    comprehend: Any, endpoint_arn: str, classifier_arn: str, *, inference_units: int = 1
) -> str:
    """Make the Comprehend endpoint serve ``classifier_arn``: UpdateEndpoint, or CreateEndpoint
    (``inference_units``) when it does not exist yet, the first promotion of a deployment
    (an endpoint needs a trained model, so Terraform cannot create it before the first one).
    Returns ``updated`` or ``created``. The endpoint answers 503 until it is IN_SERVICE."""
    try:
        comprehend.update_endpoint(EndpointArn=endpoint_arn, DesiredModelArn=classifier_arn)
        return "updated"
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    token = hashlib.sha256(f"{endpoint_arn}\n{classifier_arn}".encode()).hexdigest()[:64]
    comprehend.create_endpoint(
        EndpointName=endpoint_arn.rsplit("/", 1)[-1],
        ModelArn=classifier_arn,
        DesiredInferenceUnits=inference_units,
        ClientRequestToken=token,
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


def summary_metrics(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers kept in the registry (the full evaluation stays in S3)."""
    from textloop.evaluation import METRIC_NAMES

    out = {name: evaluation.get(name) for name in METRIC_NAMES if name in evaluation}
    out["test_set_hash"] = evaluation.get("test_set_hash")
    out["n"] = evaluation.get("n")
    return out

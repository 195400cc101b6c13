"""JSON schemas of what the state machine passes to each step (the ASL's ``Payload``s).

The iteration state machine is the only caller of the step Lambdas; each step module's
``EVENT`` is built from these, and ``textloop.handler`` checks every event against it. A drift
between the ASL and the code then fails at the first invocation, with a message naming the
field, instead of a ``KeyError`` deep in a step.
"""

from __future__ import annotations

from typing import Any

from textloop.domain.layout import ITERATION_ID

_STRING = {"type": "string", "minLength": 1}
_NULLABLE_STRING = {"type": ["string", "null"]}

ITERATION = {
    "type": "object",
    "required": [
        "iteration_id",
        "execution_arn",
        "started_at",
        "model_type",
        "mode",
        "config",
        "lock",
    ],
    "properties": {
        "iteration_id": {"type": "string", "pattern": ITERATION_ID.pattern},
        "execution_arn": _STRING,
        "started_at": _STRING,
        "model_type": {"enum": ["DOCUMENT_CLASSIFIER", "ENTITY_RECOGNIZER"]},
        "mode": {"enum": ["MULTI_CLASS", "MULTI_LABEL", None]},
        "config": {"type": "object"},
        "lock": {"type": "object"},
        "trigger": {"enum": ["schedule", "api", "manual", None]},
        "started_by": {"type": ["string", "null"]},
        "intake": {"type": ["object", "null"]},
    },
}
BATCH = {
    "type": "object",
    "required": ["batch_id", "index", "items"],
    "properties": {"batch_id": _STRING, "index": {"type": "integer"}, "items": {"type": "integer"}},
}
SELECTION = {
    "type": "object",
    "required": ["selection_key", "batches"],
    "properties": {"selection_key": _STRING, "batches": {"type": "array"}},
}
POOL = {
    "type": "object",
    "required": ["pool_version", "pool_key"],
    "properties": {"pool_version": _NULLABLE_STRING, "pool_key": _NULLABLE_STRING},
}
DATASET = {
    "type": "object",
    "required": ["dataset_version", "manifest_key", "train_uri", "test_uri", "test_set_hash"],
    "properties": {
        "dataset_version": _STRING,
        "manifest_key": _STRING,
        "train_uri": _STRING,
        "test_uri": _STRING,
        "test_set_hash": _STRING,
    },
}
TRAINING = {
    "type": "object",
    "required": ["model_version", "status", "polls", "job"],
    "properties": {
        "model_version": _STRING,
        "status": _STRING,
        "polls": {"type": "integer", "minimum": 0},
        "job": {"type": "object"},
    },
}
PREDICTION_JOB = {
    "type": "object",
    "required": ["kind", "backend", "model_version", "status"],
    "properties": {
        "kind": {"enum": ["in_process", "batch_job", "endpoint"]},
        "backend": {"enum": ["local", "comprehend"]},
        "model_version": _STRING,
        "status": _STRING,
    },
}
TEST_PREDICTIONS = {
    "type": "object",
    "required": ["status", "polls", "jobs"],
    "properties": {
        "status": _STRING,
        "polls": {"type": "integer", "minimum": 0},
        "jobs": {
            "type": "object",
            "required": ["candidate", "active"],
            "properties": {
                "candidate": PREDICTION_JOB,
                "active": {"anyOf": [{"type": "null"}, PREDICTION_JOB]},
            },
        },
    },
}
EVALUATION = {
    "type": "object",
    "required": ["candidate_key", "active_key", "decision"],
    "properties": {
        "candidate_key": _STRING,
        "active_key": _NULLABLE_STRING,
        "decision": {"type": "object", "required": ["promote"]},
    },
}


def step_schema(
    optional: dict[str, dict[str, Any]] | None = None, **properties: dict[str, Any]
) -> dict[str, Any]:
    """An event with every keyword property required and the ``optional`` ones allowed."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "required": list(properties),
        "properties": {**properties, **(optional or {})},
    }

"""The models API: which model serves, its history, and rollback. Every route needs an
operator's bearer token (``api.http.person``, group ``operators``).

* ``GET /models/active?model_type=DOCUMENT_CLASSIFIER``: the active-model pointer, its SSM
  version and the model's evaluation metrics (404 when no model was promoted yet).
* ``GET /models?model_type=...``: the registry history (promotions and rollbacks), oldest first.
* ``POST /models/rollback`` ``{"model_version"?, "reason", "model_type"?}``: point back to an
  earlier promoted version (``promotion.plan_rollback``; no version: the one promoted before the
  active one) through the same pointer move as the PromoteCandidate step (UpdateEndpoint
  included for Comprehend). 200 ``{changed, model_version, previous_model_version,
  pointer_version}``; 400 naming the field; 409 when the target cannot serve (``RollbackError``).
  A rollback that moved the pointer is audited (``audit.build_rollback_record`` at
  ``layout.rollback_audit_key``, with the operator who asked) and announced on the notifications
  topic, once: a retried request finds the record and sends nothing again.

Environment: DATA_LAKE_BUCKET, ACTIVE_MODEL_PARAMETER_PREFIX, REGISTRY_TABLE, STACK_NAME,
COMPREHEND_ENDPOINT_INFERENCE_UNITS, NOTIFICATIONS_TOPIC_ARN and the people token issuer
(``adapters.people``).
AWS: ssm:GetParameter, ssm:PutParameter (pointer parameters), dynamodb:Query, dynamodb:GetItem,
dynamodb:PutItem (registry table), s3:GetObject (models/*), s3:PutObject (audit/*), sns:Publish
(NOTIFICATIONS_TOPIC_ARN), comprehend:UpdateEndpoint, or comprehend:CreateEndpoint with
comprehend:TagResource when the endpoint is gone (the endpoint named by the pointer, created with
COMPREHEND_ENDPOINT_INFERENCE_UNITS and the stack's tags; Comprehend back-end only); back to a
version a flywheel trained: comprehend:UpdateFlywheel (its ActiveModelArn) and iam:PassRole on
COMPREHEND_DATA_ACCESS_ROLE_ARN (the endpoint reads the encrypted version with it); locally
kms:GetPublicKey (the people token key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.event_handler import Response

from textloop.adapters.active_model import ActiveModelPointer, move_pointer, registry_model_arn
from textloop.adapters.stack import Stack
from textloop.api.http import HttpError, ctx, json_body, json_response, person, resolver
from textloop.domain import layout
from textloop.domain.audit import build_rollback_record, rollback_summary
from textloop.domain.identity import OPERATORS
from textloop.domain.names import ModelType
from textloop.domain.promotion import RollbackError, plan_rollback
from textloop.domain.validation import FieldError, InvalidInput, validator

app = resolver()


@app.exception_handler(RollbackError)
def cannot_roll_back(exc: RollbackError) -> Response:
    return json_response(409, {"message": str(exc)})


def _model_type() -> str:
    value = app.current_event.get_query_string_value("model_type", "DOCUMENT_CLASSIFIER")
    if value not in ModelType.__members__:
        raise InvalidInput([FieldError("model_type", "must be one of: " + ", ".join(ModelType))])
    return value


@app.get("/models/active")
def active() -> Response:
    stack = ctx(app)
    person(app, OPERATORS)
    model_type = _model_type()
    store = stack.pointer_store(model_type)
    pointer = store.current()
    if pointer is None:
        raise HttpError(404, f"no active model for {model_type}")
    _, version = store.get()
    evaluation = stack.lake.get_json(layout.evaluation_key(pointer.model_version))
    return json_response(
        200, {"pointer": pointer.to_dict(), "pointer_version": version, "evaluation": evaluation}
    )


@app.get("/models")
def history() -> Response:
    person(app, OPERATORS)
    model_type = _model_type()
    return json_response(
        200, {"model_type": model_type, "history": ctx(app).registry.history(model_type)}
    )


@app.post("/models/rollback")
def rollback() -> Response:
    stack = ctx(app)
    operator = person(app, OPERATORS)
    data = json_body(app)
    errors = validator("rollback-request.v1").errors(data)
    if errors:
        raise InvalidInput(errors)
    model_type = data.get("model_type", "DOCUMENT_CLASSIFIER")
    store = stack.pointer_store(model_type)
    current = store.current()
    promotions = [e for e in stack.registry.history(model_type) if e["kind"] == "promotion"]
    plan = plan_rollback(
        promotions,
        data.get("model_version"),
        current.model_version if current else None,
        reason=data["reason"],
    )
    if not plan["changed"]:
        # A retry of a rollback that moved the pointer but died before its audit record was
        # written: the newest event is that rollback; it is recorded now (once).
        latest = (stack.registry.history(model_type)[-1:] or [{}])[0]
        previous = latest.get("previous_model_version")
        same = _event_id(previous, plan["model_version"], data["reason"])
        if latest.get("kind") == "rollback" and latest.get("event_id") == same:
            _audit_rollback(stack, model_type, latest, operator=operator.id)
        return json_response(200, {**plan, "pointer_version": None})
    target = next(e for e in reversed(promotions) if e["model_version"] == plan["model_version"])
    pointer = replace(ActiveModelPointer.from_dict(target["pointer"]), promoted_at=None)
    event_id = _event_id(plan["previous_model_version"], plan["model_version"], data["reason"])
    flywheel_arn = target.get("flywheel_arn")
    result = move_pointer(
        registry=stack.registry,
        pointer_store=store,
        comprehend=stack.clients.get("comprehend") if registry_model_arn(target) else None,
        event_id=event_id,
        kind="rollback",
        pointer=pointer,
        model_arn=registry_model_arn(target),
        metrics=target.get("metrics"),
        reason=plan["reason"],
        iteration_id=None,
        inference_units=int(stack.setting("COMPREHEND_ENDPOINT_INFERENCE_UNITS", "1") or 1),
        tags=stack.resource_tags(model_type),
        # Back to a flywheel's version: its flywheel serves it again too, and the endpoint
        # reads it (encrypted with the stack's key) through the data access role.
        data_access_role_arn=(
            stack.required("COMPREHEND_DATA_ACCESS_ROLE_ARN") if flywheel_arn else None
        ),
        flywheel_arn=flywheel_arn,
    )
    entry = stack.registry.event(model_type, event_id)
    if entry is None:
        raise LookupError(f"rollback {event_id} moved the pointer but is not in the registry")
    _audit_rollback(stack, model_type, entry, operator=operator.id)
    stack.logger.info("rolled back", extra={**result, "operator": operator.id})
    return json_response(200, {**result, "reason": plan["reason"]})


def _event_id(previous: str | None, target: str, reason: str) -> str:
    """One event per (from, to, reason): a retried request records the rollback once."""
    digest = hashlib.sha256(f"{previous}\n{target}\n{reason}".encode()).hexdigest()
    return f"rollback-{digest[:24]}"


def _audit_rollback(
    stack: Stack, model_type: str, entry: Mapping[str, Any], *, operator: str
) -> bool:
    """Write the rollback's audit record once and, when this call wrote it, notify. A crash
    between the two loses the notification, never the record (the record is what an auditor
    reads; the topic only tells people to look)."""
    record = build_rollback_record(entry, model_type=model_type, operator=operator)
    if not stack.lake.put_json(record["key"], record, once=True):
        stack.logger.info("rollback already audited", extra={"key": record["key"]})
        return False
    stack.clients.get("sns").publish(
        TopicArn=stack.required("NOTIFICATIONS_TOPIC_ARN"),
        Subject="textloop model rolled back",
        Message=rollback_summary(record),
    )
    stack.count("ModelRollbacks")
    return True

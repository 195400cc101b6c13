"""The models API: which model serves, its history, and rollback.

* ``GET /models/active?model_type=DOCUMENT_CLASSIFIER``: the active-model pointer, its SSM
  version and the model's evaluation metrics (404 when no model was promoted yet).
* ``GET /models?model_type=...``: the registry history (promotions and rollbacks), oldest first.
* ``POST /models/rollback`` ``{"model_version"?, "reason", "model_type"?}``: point back to an
  earlier promoted version (``promotion.plan_rollback``; no version: the one promoted before the
  active one) through the same pointer move as the promote step (UpdateEndpoint included for
  Comprehend). 200 ``{changed, model_version, previous_model_version, pointer_version}``; 400
  naming the field; 409 when the target cannot serve (``RollbackError``).

Environment: DATA_LAKE_BUCKET, ACTIVE_MODEL_PARAMETER_PREFIX, REGISTRY_TABLE.
AWS: ssm:GetParameter, ssm:PutParameter (pointer parameters), dynamodb:Query, dynamodb:GetItem,
dynamodb:PutItem (registry table), s3:GetObject (models/*), comprehend:UpdateEndpoint (the
endpoint named by the pointer; Comprehend back-end only).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import iteration
from textloop.adapters.active_model import ActiveModelPointer
from textloop.adapters.environment import Stack
from textloop.adapters.promotions import current_pointer, move_pointer
from textloop.names import ModelType
from textloop.promotion import RollbackError, plan_rollback
from textloop.validation import FieldError, error_body, http_status, parse_json_body, validator

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()
stack = Stack()


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _model_type() -> tuple[str | None, Response | None]:
    value = app.current_event.get_query_string_value("model_type", "DOCUMENT_CLASSIFIER")
    if value not in ModelType.__members__:
        errors = [FieldError("model_type", "must be one of: " + ", ".join(ModelType))]
        return None, _json(400, error_body(errors))
    return value, None


@app.get("/models/active")
@tracer.capture_method
def active() -> Response:
    model_type, problem = _model_type()
    if problem:
        return problem
    store = stack.pointer_store(model_type)
    pointer = current_pointer(store)
    if pointer is None:
        return _json(404, {"message": f"no active model for {model_type}"})
    _, version = store.get()
    evaluation = stack.lake.get_json(iteration.evaluation_key(pointer.model_version))
    return _json(
        200, {"pointer": pointer.to_dict(), "pointer_version": version, "evaluation": evaluation}
    )


@app.get("/models")
@tracer.capture_method
def history() -> Response:
    model_type, problem = _model_type()
    if problem:
        return problem
    return _json(200, {"model_type": model_type, "history": stack.registry.history(model_type)})


@app.post("/models/rollback")
@tracer.capture_method
def rollback() -> Response:
    event = app.current_event
    body = event.body
    if event.is_base64_encoded and body is not None:
        body = base64.b64decode(body)
    data, errors = parse_json_body(body)
    errors = errors or validator("rollback-request.v1").errors(data)
    if errors:
        return _json(http_status(errors), error_body(errors))
    model_type = data.get("model_type", "DOCUMENT_CLASSIFIER")
    store = stack.pointer_store(model_type)
    current = current_pointer(store)
    entries = stack.registry.history(model_type)
    promotions = [e for e in entries if e["kind"] == "promotion"]
    try:
        plan = plan_rollback(
            promotions,
            data.get("model_version"),
            current.model_version if current else None,
            reason=data["reason"],
        )
    except RollbackError as exc:
        return _json(409, {"message": str(exc)})
    if not plan["changed"]:
        return _json(200, {**plan, "pointer_version": None})
    target = next(e for e in reversed(promotions) if e["model_version"] == plan["model_version"])
    pointer = replace(ActiveModelPointer.from_dict(target["pointer"]), promoted_at=None)
    # One event per (from, to, reason): a retried request records the rollback once.
    event_id = (
        "rollback-"
        + hashlib.sha256(
            f"{plan['previous_model_version']}\n{plan['model_version']}\n{data['reason']}".encode()
        ).hexdigest()[:24]
    )
    result = move_pointer(
        registry=stack.registry,
        pointer_store=store,
        comprehend=stack.clients.get("comprehend") if target.get("classifier_arn") else None,
        event_id=event_id,
        kind="rollback",
        pointer=pointer,
        classifier_arn=target.get("classifier_arn"),
        metrics=target.get("metrics"),
        reason=plan["reason"],
        iteration_id=None,
    )
    logger.info("rolled back", extra=result)
    return _json(200, {**result, "reason": plan["reason"]})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

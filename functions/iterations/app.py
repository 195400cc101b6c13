"""The iterations API: start an active-learning iteration and follow it.

* ``POST /iterations`` ``{"model_type"?, "config"?}`` (the state machine's input, validated the
  same way): 202 ``{iteration_id, executionArn}``; 409 ``{execution_arn}`` when an iteration of
  that model type is running (the per-model lock is held by a RUNNING execution); 400 naming
  the field.
* ``GET /iterations``: recent executions (``iteration_id``, ``status``, ``started_at``,
  ``stopped_at``), newest first.
* ``GET /iterations/{iteration_id}``: status, and the audit record once written.

Execution names (= iteration ids) are ``<model type short>-<UTC time>-<random>``: unique, and
readable in the console and in S3 keys.

Environment: STATE_MACHINE_ARN, REGISTRY_TABLE, DATA_LAKE_BUCKET.
AWS: states:StartExecution, states:ListExecutions (the state machine), states:DescribeExecution
(its executions), dynamodb:GetItem (registry table), s3:GetObject (audit/*).
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from textloop import iteration
from textloop.adapters.environment import Stack
from textloop.adapters.lake import error_code
from textloop.audit import ITERATION_ID, audit_key
from textloop.validation import error_body, http_status, parse_json_body

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()
stack = Stack()
_SHORT = {"DOCUMENT_CLASSIFIER": "doc", "ENTITY_RECOGNIZER": "ner"}


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _sfn():
    return stack.clients.get("stepfunctions")


def _execution_arn(iteration_id: str) -> str:
    machine = stack.required("STATE_MACHINE_ARN")
    return machine.replace(":stateMachine:", ":execution:", 1) + f":{iteration_id}"


# The API takes the lock for an execution a moment before starting it: a holder that does not
# exist yet is starting, unless the lock is older than this (the start itself failed).
STARTING_GRACE_SECONDS = 300


def _alive(model_type: str, now: datetime):
    def is_running(execution_arn: str) -> bool:
        try:
            return _sfn().describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
        except ClientError as exc:
            if error_code(exc) not in ("ExecutionDoesNotExist", "InvalidArn"):
                raise
        held = stack.registry.lock_holder(model_type, now=now)
        if held is None or held["holder"] != execution_arn or not held.get("acquired_at"):
            return False
        age = now - datetime.fromisoformat(held["acquired_at"])
        return age.total_seconds() < STARTING_GRACE_SECONDS

    return is_running


@app.post("/iterations")
@tracer.capture_method
def start() -> Response:
    event = app.current_event
    body = event.body
    if event.is_base64_encoded and body is not None:
        body = base64.b64decode(body)
    data, errors = parse_json_body(body) if body else ({}, [])
    errors = errors or iteration.validate_input(data)
    if errors:
        return _json(http_status(errors), error_body(errors))
    model_type = data.get("model_type", iteration.DEFAULT_MODEL_TYPE)
    config = iteration.parse_input(data, stack.defaults()).config
    now = datetime.now(UTC)
    name = f"{_SHORT[model_type]}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    execution_arn = _execution_arn(name)
    # Taken here, before StartExecution, so two starts in quick succession cannot both pass;
    # the execution's Prepare step then re-takes it as the same holder.
    lock = stack.registry.acquire(
        model_type,
        holder=execution_arn,
        iteration_id=name,
        ttl_seconds=iteration.lock_ttl_seconds(config),
        now=now,
        is_running=_alive(model_type, now),
    )
    if not lock.acquired:
        return _json(
            409,
            {
                "message": f"an iteration of {model_type} is already running",
                "execution_arn": lock.holder,
                "iteration_id": lock.iteration_id,
            },
        )
    try:
        response = _sfn().start_execution(
            stateMachineArn=stack.required("STATE_MACHINE_ARN"), name=name, input=body or "{}"
        )
    except Exception:
        stack.registry.release(model_type, holder=execution_arn)
        raise
    logger.info("iteration started", extra={"iteration_id": name})
    return _json(202, {"iteration_id": name, "executionArn": response["executionArn"]})


@app.get("/iterations")
@tracer.capture_method
def list_iterations() -> Response:
    listed = _sfn().list_executions(
        stateMachineArn=stack.required("STATE_MACHINE_ARN"), maxResults=50
    )
    items = [
        {
            "iteration_id": e["name"],
            "execution_arn": e["executionArn"],
            "status": e["status"],
            "started_at": e["startDate"].isoformat(),
            "stopped_at": e["stopDate"].isoformat() if e.get("stopDate") else None,
        }
        for e in listed.get("executions", [])
    ]
    items.sort(key=lambda e: e["started_at"], reverse=True)
    return _json(200, {"iterations": items})


@app.get("/iterations/<iteration_id>")
@tracer.capture_method
def get_iteration(iteration_id: str) -> Response:
    if not ITERATION_ID.match(iteration_id):
        return _json(404, {"message": f"no iteration {iteration_id!r}"})
    try:
        described = _sfn().describe_execution(executionArn=_execution_arn(iteration_id))
    except ClientError as exc:
        if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return _json(404, {"message": f"no iteration {iteration_id!r}"})
        raise
    body = {
        "iteration_id": iteration_id,
        "execution_arn": described["executionArn"],
        "status": described["status"],
        "started_at": described["startDate"].isoformat(),
        "stopped_at": described["stopDate"].isoformat() if described.get("stopDate") else None,
        "error": described.get("error"),
        "audit": stack.lake.get_json(audit_key(iteration_id)),
    }
    return _json(200, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

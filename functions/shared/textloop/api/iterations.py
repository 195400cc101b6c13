"""The iterations API: start an active-learning iteration and follow it. Every route needs an
operator's bearer token (``api.http.person``, group ``operators``); who started an iteration is
logged with its id and recorded in its audit record (``inputs.started_by``).

* ``POST /iterations`` ``{"model_type"?, "config"?}`` (the state machine's input, validated the
  same way): 202 ``{iteration_id, executionArn}``; 409 ``{execution_arn}`` when an iteration of
  that model type is running (the per-model lock is held by a RUNNING execution); 400 naming
  the field. The execution's input says ``"trigger": "api"`` (the audit record's
  ``inputs.trigger``) and ``"started_by"``: the token's operator; a body naming another
  trigger, or any ``started_by``, is a 400.
* ``GET /iterations[?model_type=ENTITY_RECOGNIZER]``: recent executions (``iteration_id``,
  ``model_type``, ``status``, ``started_at``, ``stopped_at``), newest first; of one model type
  when asked (400 naming ``model_type`` for an unknown one). Classifiers and recognisers of one
  stack share the state machine, each with its own lock, so their iterations may run at once.
* ``GET /iterations/{iteration_id}``: status, and the audit record once written.

Execution names (= iteration ids) are ``<model type short>-<UTC time>-<random>``: unique, and
readable in the console and in S3 keys. An execution named otherwise (the schedule's, or one
started by hand) says its model type in its input, read with DescribeExecution.

Environment: STATE_MACHINE_ARN, REGISTRY_TABLE, DATA_LAKE_BUCKET, ITERATION_DEFAULTS and the
people token issuer (``adapters.people``).
AWS: states:StartExecution, states:ListExecutions (the state machine), states:DescribeExecution
(its executions), dynamodb:GetItem/PutItem/DeleteItem (the lock in the registry table),
s3:GetObject (audit/*); locally kms:GetPublicKey (the people token key).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response
from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code
from textloop.adapters.stack import Stack
from textloop.api.http import (
    HttpError,
    ctx,
    json_body,
    json_response,
    person,
    resolver,
)
from textloop.domain import layout
from textloop.domain.identity import OPERATORS
from textloop.domain.iteration import DEFAULT_MODEL_TYPE, IterationInput
from textloop.domain.names import ModelType, Trigger
from textloop.domain.validation import FieldError, InvalidInput

app = resolver()
_SHORT = {"DOCUMENT_CLASSIFIER": "doc", "ENTITY_RECOGNIZER": "ner"}
_BY_SHORT = {short: model_type for model_type, short in _SHORT.items()}
# The API takes the lock for an execution a moment before starting it: a holder that does not
# exist yet is starting, unless the lock is older than this (the start itself failed).
STARTING_GRACE_SECONDS = 300
_GONE = ("ExecutionDoesNotExist", "InvalidArn")


@app.post("/iterations")
def start() -> Response:
    stack = ctx(app)
    operator = person(app, OPERATORS)
    data = json_body(app, optional=True)
    errors = IterationInput.errors(data)
    if not errors and data.get("trigger", Trigger.API) != Trigger.API:
        errors = [FieldError("trigger", "is set by textloop: this API starts with trigger api")]
    if not errors and "started_by" in data:
        errors = [FieldError("started_by", "is set by textloop: the operator of the bearer token")]
    if errors:
        raise InvalidInput(errors)
    data = {**data, "trigger": Trigger.API.value, "started_by": operator.id}
    parsed = IterationInput.parse(data, stack.iteration_defaults)
    model_type = parsed.model_type
    now = datetime.now(UTC)
    name = f"{_SHORT[model_type]}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    execution_arn = _execution_arn(stack, name)
    # Taken here, before StartExecution, so two starts in quick succession cannot both pass;
    # the execution's Prepare step then re-takes it as the same holder.
    lock = stack.registry.acquire(
        model_type,
        holder=execution_arn,
        iteration_id=name,
        ttl_seconds=parsed.config.lock_ttl_seconds,
        now=now,
        is_running=_alive(stack, model_type, now),
    )
    if not lock.acquired:
        raise HttpError(
            409,
            f"an iteration of {model_type} is already running",
            execution_arn=lock.holder,
            iteration_id=lock.iteration_id,
        )
    try:
        response = stack.clients.get("stepfunctions").start_execution(
            stateMachineArn=stack.required("STATE_MACHINE_ARN"),
            name=name,
            # The parsed body, not the raw one: API Gateway hands a base64-encoded body over as
            # bytes, and the state machine must get the same JSON this API just validated.
            input=json.dumps(data),
        )
    except Exception:
        stack.registry.release(model_type, holder=execution_arn)
        raise
    stack.logger.info("iteration started", extra={"iteration_id": name, "operator": operator.id})
    return json_response(202, {"iteration_id": name, "executionArn": response["executionArn"]})


@app.get("/iterations")
def list_iterations() -> Response:
    stack = ctx(app)
    person(app, OPERATORS)
    wanted = app.current_event.get_query_string_value("model_type", None)
    if wanted is not None and wanted not in ModelType.__members__:
        raise InvalidInput([FieldError("model_type", "must be one of: " + ", ".join(ModelType))])
    sfn = stack.clients.get("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=stack.required("STATE_MACHINE_ARN"), maxResults=50)
    items = []
    for e in listed.get("executions", []):
        model_type = _model_type_of(sfn, e)
        if wanted is not None and model_type != wanted:
            continue
        items.append(
            {
                "iteration_id": e["name"],
                "model_type": model_type,
                "execution_arn": e["executionArn"],
                "status": e["status"],
                "started_at": e["startDate"].isoformat(),
                "stopped_at": e["stopDate"].isoformat() if e.get("stopDate") else None,
            }
        )
    items.sort(key=lambda e: e["started_at"], reverse=True)
    return json_response(200, {"iterations": items})


def _model_type_of(sfn, execution: dict) -> str | None:
    """The model type of a listed execution: from its name when this API named it, else from
    its input (None when the input names no known one: Prepare refused it)."""
    known = _BY_SHORT.get(execution["name"].split("-", 1)[0])
    if known is not None:
        return known
    try:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        data = json.loads(described.get("input") or "{}")
    except (ClientError, ValueError):
        return None
    model_type = data.get("model_type", DEFAULT_MODEL_TYPE) if isinstance(data, dict) else None
    return model_type if model_type in ModelType.__members__ else None


@app.get("/iterations/<iteration_id>")
def get_iteration(iteration_id: str) -> Response:
    stack = ctx(app)
    person(app, OPERATORS)
    if not layout.ITERATION_ID.fullmatch(iteration_id):
        raise HttpError(404, f"no iteration {iteration_id!r}")
    try:
        described = stack.clients.get("stepfunctions").describe_execution(
            executionArn=_execution_arn(stack, iteration_id)
        )
    except ClientError as exc:
        if error_code(exc) in _GONE:
            raise HttpError(404, f"no iteration {iteration_id!r}") from None
        raise
    body = {
        "iteration_id": iteration_id,
        "execution_arn": described["executionArn"],
        "status": described["status"],
        "started_at": described["startDate"].isoformat(),
        "stopped_at": described["stopDate"].isoformat() if described.get("stopDate") else None,
        "error": described.get("error"),
        "audit": stack.lake.get_json(layout.audit_key(iteration_id)),
    }
    return json_response(200, body)


def _execution_arn(stack: Stack, iteration_id: str) -> str:
    machine = stack.required("STATE_MACHINE_ARN")
    return machine.replace(":stateMachine:", ":execution:", 1) + f":{iteration_id}"


def _alive(stack: Stack, model_type: str, now: datetime) -> Callable[[str], bool]:
    """Whether a lock holder is alive: its execution RUNNING, or still starting (this API took
    the lock for it less than ``STARTING_GRACE_SECONDS`` ago)."""

    def is_running(execution_arn: str) -> bool:
        try:
            described = stack.clients.get("stepfunctions").describe_execution(
                executionArn=execution_arn
            )
            return described["status"] == "RUNNING"
        except ClientError as exc:
            if error_code(exc) not in _GONE:
                raise
        held = stack.registry.lock_holder(model_type, now=now)
        if held is None or held["holder"] != execution_arn or not held.get("acquired_at"):
            return False
        age = now - datetime.fromisoformat(held["acquired_at"])
        return age.total_seconds() < STARTING_GRACE_SECONDS

    return is_running

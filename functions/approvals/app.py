"""``POST /approvals/{iteration_id}`` ``{"approver", "approved": bool, "comment"?}``: a person's
decision on an iteration waiting for approval.

The answer is stored once (``reviews/<iteration_id>/approval-response.json``) and completes the
token stored by the WaitForApproval step. 200 ``{iteration_id, approved, duplicate}``; the same
answer again is a duplicate that changes nothing; a different answer is 409; 404 when the
iteration never asked for approval; 400 naming the field.

Environment: DATA_LAKE_BUCKET.
AWS: s3:GetObject, s3:PutObject (reviews/*), states:SendTaskSuccess.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import reviews
from textloop.adapters.environment import Stack
from textloop.annotations import format_timestamp
from textloop.audit import ITERATION_ID
from textloop.validation import error_body, http_status, parse_json_body, validator

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()
stack = Stack()


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.post("/approvals/<iteration_id>")
@tracer.capture_method
def approve(iteration_id: str) -> Response:
    event = app.current_event
    body = event.body
    if event.is_base64_encoded and body is not None:
        body = base64.b64decode(body)
    data, errors = parse_json_body(body)
    errors = errors or validator("approval-response.v1").errors(data)
    if errors:
        return _json(http_status(errors), error_body(errors))
    request = (
        stack.lake.get_json(reviews.approval_key(iteration_id))
        if ITERATION_ID.match(iteration_id)
        else None
    )
    if request is None:
        return _json(404, {"message": f"iteration {iteration_id!r} is not waiting for approval"})
    answer = {
        "approved": data["approved"],
        "approver": data["approver"].strip(),
        "comment": data.get("comment"),
    }
    stored = {
        **answer,
        "iteration_id": iteration_id,
        "answered_at": format_timestamp(datetime.now(UTC)),
    }
    written = stack.lake.put_json(reviews.approval_response_key(iteration_id), stored, once=True)
    if not written:
        previous = stack.lake.get_json(reviews.approval_response_key(iteration_id)) or {}
        if {k: previous.get(k) for k in answer} != answer:
            return _json(
                409,
                {
                    "message": f"iteration {iteration_id} was already answered differently",
                    "approved": previous.get("approved"),
                    "approver": previous.get("approver"),
                },
            )
    result = stack.tokens.succeed(request["task_token"], answer)
    if not result.delivered:
        logger.info("iteration no longer waits for approval", extra={"code": result.code})
    logger.info("approval answered", extra={"iteration_id": iteration_id, **answer})
    return _json(
        200,
        {"iteration_id": iteration_id, "approved": answer["approved"], "duplicate": not written},
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

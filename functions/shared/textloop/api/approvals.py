"""``POST /approvals/{iteration_id}`` ``{"approved": bool, "comment"?}``: a person's decision on
an iteration waiting for approval.

The person is the bearer token's (``api.http.person``, group ``approvers``; 401 without a valid
token, 403 outside the group) and is recorded as ``approver``; an ``approver`` in the body is
ignored (logged as ignored, never trusted).

The answer is stored once (``layout.approval_response_key``) and completes the token stored by
the WaitForApproval step. 200 ``{iteration_id, approved, duplicate}``; the same answer again is a
duplicate that changes nothing; a different answer is 409; 404 when the iteration never asked
for approval; 400 naming the field.

A late answer is 409 ``{message, iteration_id, status}`` and nothing is stored: past the
request's deadline (``expired``; the iteration rejected the candidate), or the execution no
longer RUNNING (``stopped``, ``failed``, ...). Should Step Functions refuse the token even so
(the wait ended between the check and the call), the stored answer is withdrawn and the answer
is 409 ``expired``.

Environment: DATA_LAKE_BUCKET and the people token issuer (``adapters.people``).
AWS: s3:GetObject, s3:PutObject, s3:DeleteObject (reviews/*), states:SendTaskSuccess,
states:DescribeExecution (the iteration's executions); locally kms:GetPublicKey (the people
token key).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response

from textloop.adapters.reviews_store import closed_state
from textloop.adapters.stack import Stack
from textloop.api.http import HttpError, ctx, json_body, json_response, person, resolver
from textloop.domain import layout
from textloop.domain.identity import APPROVERS
from textloop.domain.timestamps import format_timestamp
from textloop.domain.validation import InvalidInput, validator

app = resolver()


class NotWaiting(Exception):
    """The iteration waits for no approval: the answer is late (409, nothing stored)."""

    def __init__(self, iteration_id: str, status: str, message: str):
        super().__init__(message)
        self.iteration_id = iteration_id
        self.status = status


@app.exception_handler(NotWaiting)
def not_waiting(exc: NotWaiting) -> Response:
    return json_response(
        409, {"message": str(exc), "iteration_id": exc.iteration_id, "status": exc.status}
    )


@app.post("/approvals/<iteration_id>")
def approve(iteration_id: str) -> Response:
    stack = ctx(app)
    approver = person(app, APPROVERS)
    data = json_body(app)
    errors = validator("approval-response.v1").errors(data)
    if errors:
        raise InvalidInput(errors)
    request = (
        stack.lake.get_json(layout.approval_key(iteration_id))
        if layout.ITERATION_ID.fullmatch(iteration_id)
        else None
    )
    if request is None:
        raise HttpError(404, f"iteration {iteration_id!r} is not waiting for approval")
    answer = {
        "approved": data["approved"],
        "approver": approver.id,
        "comment": data.get("comment"),
    }
    key = layout.approval_response_key(iteration_id)
    previous = stack.lake.get_json(key)
    if previous is None:
        _refuse_if_late(stack, iteration_id, request)
        stored = {
            **answer,
            "iteration_id": iteration_id,
            "answered_at": format_timestamp(datetime.now(UTC)),
        }
        written = stack.lake.put_json(key, stored, once=True)
        previous = stored if written else stack.lake.get_json(key) or {}
    else:
        written = False
    if {k: previous.get(k) for k in answer} != answer:
        raise HttpError(
            409,
            f"iteration {iteration_id} was already answered differently",
            approved=previous.get("approved"),
            approver=previous.get("approver"),
        )
    if data.get("approver") not in (None, approver.id):
        stack.count("BodyIdentityIgnored")
        stack.logger.info("body approver ignored: the token names the approver")
    result = stack.tokens.succeed(request["task_token"], answer)
    if not result.delivered:
        stack.logger.info("iteration no longer waits for approval", extra={"code": result.code})
        if written:
            # Stored a moment after the wait ended: the iteration decided without it.
            stack.lake.s3.delete_object(Bucket=stack.lake.bucket, Key=key)
            raise NotWaiting(
                iteration_id,
                "expired",
                f"iteration {iteration_id} no longer waits for approval ({result.code})",
            )
    stack.logger.info("approval answered", extra={"iteration_id": iteration_id, **answer})
    return json_response(
        200,
        {"iteration_id": iteration_id, "approved": answer["approved"], "duplicate": not written},
    )


def _refuse_if_late(stack: Stack, iteration_id: str, request: dict[str, Any]) -> None:
    """409 unless the iteration still waits for this approval."""
    now = format_timestamp(datetime.now(UTC))
    if request.get("deadline") and request["deadline"] <= now:
        raise NotWaiting(
            iteration_id,
            "expired",
            f"the approval of iteration {iteration_id} expired at {request['deadline']}: "
            "the candidate was rejected",
        )
    # Requests stored before the execution was recorded in them: the deadline alone decides.
    if request.get("execution_arn"):
        state = closed_state(stack.tokens.execution_status(request["execution_arn"]))
        if state != "running":
            message = f"iteration {iteration_id} is {state} and waits for no approval"
            raise NotWaiting(iteration_id, state, message)

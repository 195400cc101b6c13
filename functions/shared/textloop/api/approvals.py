"""``POST /approvals/{iteration_id}`` ``{"approver", "approved": bool, "comment"?}``: a person's
decision on an iteration waiting for approval.

The answer is stored once (``layout.approval_response_key``) and completes the token stored by
the WaitForApproval step. 200 ``{iteration_id, approved, duplicate}``; the same answer again is a
duplicate that changes nothing; a different answer is 409; 404 when the iteration never asked
for approval; 400 naming the field.

Environment: DATA_LAKE_BUCKET.
AWS: s3:GetObject, s3:PutObject (reviews/*), states:SendTaskSuccess.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response

from textloop.api.http import HttpError, ctx, json_body, json_response, resolver
from textloop.domain import layout
from textloop.domain.timestamps import format_timestamp
from textloop.domain.validation import InvalidInput, validator

app = resolver()


@app.post("/approvals/<iteration_id>")
def approve(iteration_id: str) -> Response:
    stack = ctx(app)
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
        "approver": data["approver"].strip(),
        "comment": data.get("comment"),
    }
    stored = {
        **answer,
        "iteration_id": iteration_id,
        "answered_at": format_timestamp(datetime.now(UTC)),
    }
    key = layout.approval_response_key(iteration_id)
    written = stack.lake.put_json(key, stored, once=True)
    if not written:
        previous = stack.lake.get_json(key) or {}
        if {k: previous.get(k) for k in answer} != answer:
            raise HttpError(
                409,
                f"iteration {iteration_id} was already answered differently",
                approved=previous.get("approved"),
                approver=previous.get("approver"),
            )
    result = stack.tokens.succeed(request["task_token"], answer)
    if not result.delivered:
        stack.logger.info("iteration no longer waits for approval", extra={"code": result.code})
    stack.logger.info("approval answered", extra={"iteration_id": iteration_id, **answer})
    return json_response(
        200,
        {"iteration_id": iteration_id, "approved": answer["approved"], "duplicate": not written},
    )

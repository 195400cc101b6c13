"""WaitForApproval (``.waitForTaskToken``): ask a person to sign off a promotion.

The token and what is to be approved go to ``layout.approval_key``; the notification topic tells
people where to answer (POST /approvals/{iteration_id}, which completes the token). No answer
before ``approval_timeout_seconds`` rejects the candidate.

Environment: DATA_LAKE_BUCKET, NOTIFICATIONS_TOPIC_ARN.
AWS: s3:PutObject (reviews/*), sns:Publish (NOTIFICATIONS_TOPIC_ARN).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.iteration import Iteration
from textloop.domain.timestamps import format_timestamp
from textloop.steps.payloads import EVALUATION, ITERATION, step_schema

EVENT = step_schema(
    iteration=ITERATION,
    evaluation=EVALUATION,
    task_token={"type": "string", "minLength": 1},
)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    it, decision = Iteration.from_dict(event["iteration"]), event["evaluation"]["decision"]
    now = datetime.now(UTC)
    deadline = now + timedelta(seconds=it.config.approval_timeout_seconds)
    key = layout.approval_key(it.iteration_id)
    request = {
        "iteration_id": it.iteration_id,
        # The approvals API asks Step Functions whether this execution still waits.
        "execution_arn": it.execution_arn,
        "model_type": it.model_type,
        "candidate_model_version": decision.get("candidate_model_version"),
        "active_model_version": decision.get("active_model_version"),
        "reason": decision.get("reason"),
        "requested_at": format_timestamp(now),
        "deadline": format_timestamp(deadline),
        "task_token": event["task_token"],
    }
    # Overwritten on purpose: a retried task has a new token, and only that one is waited on.
    ctx.lake.put_json(key, request)
    ctx.clients.get("sns").publish(
        TopicArn=ctx.required("NOTIFICATIONS_TOPIC_ARN"),
        Subject="textloop: approval needed",
        Message=(
            f"Iteration {it.iteration_id} ({it.model_type}) wants to promote "
            f"{request['candidate_model_version']}.\n{request['reason']}\n"
            f"Approve or reject before {request['deadline']}: POST /approvals/"
            f'{it.iteration_id} with {{"approver": ..., "approved": true|false}}.'
        ),
    )
    ctx.logger.info("approval requested", extra={"approval_key": key})
    return {"iteration_id": it.iteration_id, "approval_key": key}

"""WaitForApproval step (``.waitForTaskToken``): ask a person to sign off a promotion.

The token and what is to be approved go to ``reviews/<iteration_id>/approval.json``; the
notification topic tells people where to answer (POST /approvals/{iteration_id}, which completes
the token). No answer before ``approval_timeout_seconds`` rejects the candidate.

Environment: DATA_LAKE_BUCKET, NOTIFICATIONS_TOPIC_ARN.
AWS: s3:PutObject (reviews/*), sns:Publish (NOTIFICATIONS_TOPIC_ARN).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import reviews, step_events
from textloop.adapters.environment import Stack
from textloop.annotations import format_timestamp

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(
    iteration=step_events.ITERATION,
    evaluation=step_events.EVALUATION,
    task_token={"type": "string", "minLength": 1},
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "request_approval")
    it, decision = event["iteration"], event["evaluation"]["decision"]
    logger.set_correlation_id(it["execution_arn"])
    now = datetime.now(UTC)
    deadline = now + timedelta(seconds=int(it["config"]["approval_timeout_seconds"]))
    key = reviews.approval_key(it["iteration_id"])
    request = {
        "iteration_id": it["iteration_id"],
        "model_type": it["model_type"],
        "candidate_model_version": decision.get("candidate_model_version"),
        "active_model_version": decision.get("active_model_version"),
        "reason": decision.get("reason"),
        "requested_at": format_timestamp(now),
        "deadline": format_timestamp(deadline),
        "task_token": event["task_token"],
    }
    # Overwritten on purpose: a retried task has a new token, and only that one is waited on.
    stack.lake.put_json(key, request)
    stack.clients.get("sns").publish(
        TopicArn=stack.required("NOTIFICATIONS_TOPIC_ARN"),
        Subject="textloop: approval needed"[:100],
        Message=(
            f"Iteration {it['iteration_id']} ({it['model_type']}) wants to promote "
            f"{request['candidate_model_version']}.\n{request['reason']}\n"
            f"Approve or reject before {request['deadline']}: POST /approvals/"
            f'{it["iteration_id"]} with {{"approver": ..., "approved": true|false}}.'
        ),
    )
    logger.info("approval requested", extra={"approval_key": key})
    return {"iteration_id": it["iteration_id"], "approval_key": key}

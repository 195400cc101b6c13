"""A2I callback: EventBridge "SageMaker A2I HumanLoop Status Change" events complete review
batches.

* ``Completed``: the loop's output.json (``humanLoopOutput.outputS3Uri``) is read, each worker's
  ``answerContent`` (``{"answers": [{"item_id", "labels"}]}`` from the classifier templates;
  ``{"crowd-entity-annotation": {"entities": [{"startOffset", "endOffset", "label"}]}}`` from
  the entity template, see ``reviews.submissions_from_a2i_output``) becomes one submission with
  the ``workerId`` as reviewer, and the batch is completed like a review-API submission (stored
  once, then SendTaskSuccess).
* ``Failed`` / ``Stopped``: SendTaskFailure with ``Textloop.HumanLoopFailed`` /
  ``Textloop.HumanLoopStopped``; the state machine returns the batch's items to the pool.

Events arrive at least once: a repeat finds the stored answers and changes nothing, and a token
Step Functions no longer waits on is logged, not raised. A completion for a batch whose iteration
no longer waits (deadline passed, execution stopped or failed) stores nothing and is logged and
returned as late (metric LateReviewAnswers). Events for loops that are not textloop
batches (another flow definition in the account) are ignored.

Environment: DATA_LAKE_BUCKET, A2I_FLOW_DEFINITION_ARN and A2I_ENTITY_FLOW_DEFINITION_ARN (the
classifier's and the entity recogniser's flows; events of other flows are ignored).
AWS: s3:GetObject (reviews/* and the flow definition's output prefix), s3:PutObject,
s3:DeleteObject (reviews/*), states:SendTaskSuccess, states:SendTaskFailure,
states:DescribeExecution (the iteration's executions).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent

from textloop.adapters.a2i import split_s3_uri
from textloop.adapters.reviews_store import BatchClosed, BatchNotFound, complete_batch
from textloop.adapters.stack import Stack
from textloop.domain import layout, reviews
from textloop.domain.validation import InvalidInput, loads

EVENT = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "type": "object",
            "required": ["humanLoopName", "humanLoopStatus", "flowDefinitionArn"],
            "properties": {
                "humanLoopName": {"type": "string", "minLength": 1},
                "humanLoopStatus": {"type": "string"},
                "flowDefinitionArn": {"type": "string"},
                "humanLoopOutput": {
                    "type": "object",
                    "required": ["outputS3Uri"],
                    "properties": {"outputS3Uri": {"type": "string", "pattern": "^s3://"}},
                },
            },
        }
    },
}
FAILURE_ERRORS = {"Failed": "Textloop.HumanLoopFailed", "Stopped": "Textloop.HumanLoopStopped"}


def correlation_id(event: dict[str, Any]) -> str:
    return event["detail"]["humanLoopName"]


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    detail = EventBridgeEvent(event).detail
    batch_id, status = detail["humanLoopName"], detail["humanLoopStatus"]
    ours = {
        ctx.setting(name) for name in ("A2I_FLOW_DEFINITION_ARN", "A2I_ENTITY_FLOW_DEFINITION_ARN")
    } - {None, ""}
    if ours and detail["flowDefinitionArn"] not in ours:
        return _foreign(ctx, batch_id, "event of another flow definition ignored")
    # Every loop of the account reaches this function: one that is not a textloop batch with
    # an A2I review is logged and ignored, never raised (a raise would retry it into the DLQ).
    task = _our_task(ctx, batch_id)
    if task is None:
        return _foreign(ctx, batch_id, "no textloop A2I review batch of this name; ignored")
    if status == "Completed":
        if "humanLoopOutput" not in detail:
            raise ValueError("a Completed A2I event must carry humanLoopOutput.outputS3Uri")
        return completed(ctx, batch_id, detail["humanLoopOutput"]["outputS3Uri"], task)
    if status in FAILURE_ERRORS:
        return ended_without_answers(ctx, batch_id, status)
    ctx.logger.info("status not acted on", extra={"status": status})
    return {"batch_id": batch_id, "status": "ignored"}


def _our_task(ctx: Stack, loop_name: Any) -> dict[str, Any] | None:
    if not isinstance(loop_name, str) or not layout.BATCH_ID.fullmatch(loop_name):
        return None
    try:
        task = ctx.reviews.task(loop_name)
    except BatchNotFound:
        return None
    return task if task.get("review_backend") == "a2i" else None


def _foreign(ctx: Stack, loop_name: Any, message: str) -> dict[str, Any]:
    ctx.count("A2IForeignLoopIgnored")
    # The name is not ours to trust: logged as its repr, cut short.
    ctx.logger.info(message, extra={"loop": repr(loop_name)[:100]})
    return {"batch_id": loop_name, "status": "ignored"}


def completed(
    ctx: Stack, batch_id: str, output_uri: str, task: dict[str, Any] | None = None
) -> dict[str, Any]:
    try:
        task = task if task is not None else ctx.reviews.task(batch_id)
        bucket, key = split_s3_uri(output_uri)
        body = ctx.clients.get("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        output, errors = loads(body, field="output.json")
        if errors:
            raise InvalidInput(errors)
        # The task says how to read the answers (an entity batch's spans go back to its items).
        submissions = reviews.submissions_from_a2i_output(output, task)
        result = complete_batch(ctx.reviews, ctx.tokens, batch_id, submissions, source="a2i")
    except BatchNotFound:
        ctx.logger.warning("no textloop batch of this name; ignored", extra={"loop": batch_id})
        return {"batch_id": batch_id, "status": "ignored"}
    except BatchClosed as exc:
        # Expired, its iteration stopped or failed, or already answered differently: the
        # iteration moved on and nothing was stored; keep the event out of the retry/DLQ path,
        # it will never succeed.
        ctx.count("LateReviewAnswers")
        ctx.logger.warning(str(exc), extra={"batch_id": batch_id, "status": exc.status})
        return {"batch_id": batch_id, "status": exc.status, "refused": str(exc), "late": True}
    except InvalidInput as exc:
        # The worker template answered something that does not fit the batch: the loop cannot
        # complete the review; fail its token so the iteration goes on without it.
        task = ctx.reviews.task(batch_id)
        ctx.tokens.fail(task["task_token"], "Textloop.HumanLoopInvalidAnswers", str(exc)[:1000])
        ctx.logger.error("A2I answers rejected", extra={"batch_id": batch_id, "error": str(exc)})
        return {"batch_id": batch_id, "status": "rejected", "errors": str(exc)}
    ctx.count("ReviewBatchesAnswered")
    answer = {**result.to_dict(), "token_delivered": result.token_delivered}
    ctx.logger.info("A2I review completed", extra=answer)
    return answer


def ended_without_answers(ctx: Stack, batch_id: str, status: str) -> dict[str, Any]:
    try:
        task = ctx.reviews.task(batch_id)
    except BatchNotFound:
        return {"batch_id": batch_id, "status": "ignored"}
    current = ctx.reviews.status(task["iteration_id"], batch_id)
    if current != "pending":
        # Events are not ordered: a late Failed/Stopped must not undo answers (or an expiry)
        # the iteration already acted on.
        ctx.logger.warning("loop status for a closed batch", extra={"status": status})
        return {"batch_id": batch_id, "status": current, "ignored": True}
    delivered = ctx.tokens.fail(
        task["task_token"],
        FAILURE_ERRORS[status],
        f"A2I human loop {batch_id} ended with status {status}",
    )
    ctx.logger.warning("A2I loop ended without answers", extra={"status": status})
    return {"batch_id": batch_id, "status": status.lower(), "token_delivered": delivered.delivered}

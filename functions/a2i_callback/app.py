"""A2I callback: EventBridge "SageMaker A2I HumanLoop Status Change" events complete review
batches.

* ``Completed``: the loop's output.json (``humanLoopOutput.outputS3Uri``) is read, each worker's
  ``answerContent`` (``{"answers": [{"item_id", "labels"}]}``, see ``reviews``) becomes one
  submission with the ``workerId`` as reviewer, and the batch is completed like a review-API
  submission (stored once, then SendTaskSuccess).
* ``Failed`` / ``Stopped``: SendTaskFailure with ``Textloop.HumanLoopFailed`` /
  ``Textloop.HumanLoopStopped``; the state machine returns the batch's items to the pool.

Events arrive at least once: a repeat finds the stored answers and changes nothing, and a token
Step Functions no longer waits on is logged, not raised. Events for loops that are not textloop
batches (another flow definition in the account) are ignored.

Environment: DATA_LAKE_BUCKET, A2I_FLOW_DEFINITION_ARN (events of other flows are ignored).
AWS: s3:GetObject (reviews/* and the flow definition's output prefix), s3:PutObject (reviews/*),
states:SendTaskSuccess, states:SendTaskFailure.
"""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate
from textloop import reviews
from textloop.adapters.a2i import split_s3_uri
from textloop.adapters.environment import Stack
from textloop.adapters.reviews_store import BatchClosed, BatchNotFound, complete_batch
from textloop.validation import InvalidInput

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

DETAIL_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
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
FAILURE_ERRORS = {"Failed": "Textloop.HumanLoopFailed", "Stopped": "Textloop.HumanLoopStopped"}


@tracer.capture_method
def on_completed(batch_id: str, output_uri: str) -> dict:
    bucket, key = split_s3_uri(output_uri)
    output = json.loads(stack.clients.get("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    submissions = reviews.submissions_from_a2i_output(output)
    result = complete_batch(stack.reviews, stack.tokens, batch_id, submissions, source="a2i")
    metrics.add_metric(name="ReviewBatchesAnswered", unit=MetricUnit.Count, value=1)
    return {**result.to_dict(), "token_delivered": result.token_delivered}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict:
    detail = event.detail
    try:
        validate(event=detail, schema=DETAIL_SCHEMA)
    except SchemaValidationError as exc:
        raise ValueError(f"invalid A2I status event: {exc.validation_message}") from None
    batch_id, status = detail["humanLoopName"], detail["humanLoopStatus"]
    expected_flow = stack.setting("A2I_FLOW_DEFINITION_ARN")
    if expected_flow and detail["flowDefinitionArn"] != expected_flow:
        logger.info("event of another flow definition ignored", extra={"loop": batch_id})
        return {"batch_id": batch_id, "status": "ignored"}
    logger.set_correlation_id(batch_id)
    if status == "Completed":
        if "humanLoopOutput" not in detail:
            raise ValueError("a Completed A2I event must carry humanLoopOutput.outputS3Uri")
        try:
            result = on_completed(batch_id, detail["humanLoopOutput"]["outputS3Uri"])
        except BatchNotFound:
            logger.warning("no textloop batch of this name; ignored", extra={"loop": batch_id})
            return {"batch_id": batch_id, "status": "ignored"}
        except BatchClosed as exc:
            # Expired, or already answered differently: the iteration moved on; keep the event
            # out of the retry/DLQ path, it will never succeed.
            logger.warning(str(exc), extra={"batch_id": batch_id, "status": exc.status})
            return {"batch_id": batch_id, "status": exc.status, "refused": str(exc)}
        except InvalidInput as exc:
            # The worker template answered something that does not fit the batch: the loop
            # cannot complete the review; fail its token so the iteration goes on without it.
            task = stack.reviews.task(batch_id)
            stack.tokens.fail(task["task_token"], "Textloop.HumanLoopInvalidAnswers", str(exc))
            logger.error("A2I answers rejected", extra={"batch_id": batch_id, "error": str(exc)})
            return {"batch_id": batch_id, "status": "rejected", "errors": str(exc)}
        logger.info("A2I review completed", extra=result)
        return result
    if status in FAILURE_ERRORS:
        try:
            task = stack.reviews.task(batch_id)
        except BatchNotFound:
            return {"batch_id": batch_id, "status": "ignored"}
        current = stack.reviews.status(task["iteration_id"], batch_id)
        if current != "pending":
            # Events are not ordered: a late Failed/Stopped must not undo answers (or an
            # expiry) the iteration already acted on.
            logger.warning("loop status for a closed batch", extra={"status": status})
            return {"batch_id": batch_id, "status": current, "ignored": True}
        delivered = stack.tokens.fail(
            task["task_token"],
            FAILURE_ERRORS[status],
            f"A2I human loop {batch_id} ended with status {status}",
        )
        logger.warning("A2I loop ended without answers", extra={"status": status})
        return {
            "batch_id": batch_id,
            "status": status.lower(),
            "token_delivered": delivered.delivered,
        }
    logger.info("status not acted on", extra={"status": status})
    return {"batch_id": batch_id, "status": "ignored"}

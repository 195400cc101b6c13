"""ReturnToPool step: a review batch passed its deadline unanswered.

The batch is marked expired (``expired.json``, written once), so late answers are refused with
409 and its items, never answered, come back as candidates in a later iteration. If answers
landed in the moment between the deadline and this step, they are used rather than thrown away.

Environment: DATA_LAKE_BUCKET.
AWS: s3:GetObject, s3:PutObject (reviews/*).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import step_events
from textloop.adapters.environment import Stack

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(batch=step_events.BATCH, iteration=step_events.ITERATION)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "expire_review")
    iteration_id = event["iteration"]["iteration_id"]
    batch_id = event["batch"]["batch_id"]
    logger.set_correlation_id(event["iteration"]["execution_arn"])
    answers = stack.reviews.answers(iteration_id, batch_id)
    if answers is not None:
        logger.info("answers arrived at the deadline; keeping them", extra={"batch_id": batch_id})
        return {"batch_id": batch_id, "status": "answered", "answered": answers["answered_items"]}
    stack.reviews.expire(iteration_id, batch_id, at=datetime.now(UTC))
    metrics.add_metric(name="ReviewBatchesExpired", unit=MetricUnit.Count, value=1)
    logger.info("review batch expired", extra={"batch_id": batch_id})
    return {"batch_id": batch_id, "status": "expired", "answered": 0}

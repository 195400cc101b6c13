"""Prepare step: validate the iteration input, apply the defaults, count new feedback, take the
per-model lock.

The lock is taken last, so an input error or a failed count never leaves it held. A lock whose
holder's execution is no longer RUNNING (crashed, stopped by hand) is taken over at once; one
that outlived ``iteration.lock_ttl_seconds`` is free anyway.

Environment: DATA_LAKE_BUCKET, REGISTRY_TABLE, ITERATION_DEFAULTS (JSON, optional).
AWS: s3:ListBucket (feedback/, annotations/), s3:GetObject (feedback/*, annotations/*),
dynamodb:PutItem/GetItem (registry table), states:DescribeExecution (lock holder).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from textloop import iteration, step_events
from textloop.adapters.environment import Stack
from textloop.adapters.lake import error_code
from textloop.annotations import format_timestamp

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(
    input={},
    execution_arn={"type": "string", "minLength": 1},
    iteration_id={"type": "string", "minLength": 1},
    started_at={"type": "string", "minLength": 1},
)


def _is_running(execution_arn: str) -> bool:
    try:
        status = stack.clients.get("stepfunctions").describe_execution(executionArn=execution_arn)[
            "status"
        ]
    except ClientError as exc:
        if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return False
        raise
    return status == "RUNNING"


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "prepare")
    logger.set_correlation_id(event["execution_arn"])
    parsed = iteration.parse_input(event["input"], stack.defaults())
    model_type, config = parsed.model_type, parsed.config

    pool = stack.pools.current(model_type)
    records = stack.lake.feedback_records()
    fresh = iteration.unsettled_records(records, model_type, pool)
    new_items = iteration.new_items_summary(len(fresh), config["min_new_items"])

    lock = stack.registry.acquire(
        model_type,
        holder=event["execution_arn"],
        iteration_id=event["iteration_id"],
        ttl_seconds=iteration.lock_ttl_seconds(config),
        is_running=_is_running,
    )
    if lock.taken_over_from:
        logger.warning("took over a stale lock", extra={"previous_holder": lock.taken_over_from})
    metrics.add_metric(name="NewFeedbackItems", unit=MetricUnit.Count, value=len(fresh))
    logger.info(
        "iteration prepared",
        extra={"model_type": model_type, "new_items": new_items, "lock": lock.to_dict()},
    )
    return {
        "iteration_id": event["iteration_id"],
        "execution_arn": event["execution_arn"],
        "started_at": format_timestamp(event["started_at"]),
        "model_type": model_type,
        "mode": parsed.mode,
        "config": config,
        "lock": lock.to_dict(),
        "new_items": new_items,
    }

"""Prepare: validate the iteration input, apply the settings, see what feedback is new, take the
per-model lock.

The new feedback (the records no person has answered yet) is stored once for the iteration
(``layout.new_feedback_key``) when there is enough of it to go on: SelectForReview chooses from
exactly what Prepare counted, and the lake is scanned once per iteration.

The lock is taken last, so an input error or a failed scan never leaves it held. A lock whose
holder's execution is no longer RUNNING (crashed, stopped by hand) is taken over at once; one
that outlived ``IterationConfig.lock_ttl_seconds`` is free anyway.

Environment: DATA_LAKE_BUCKET, REGISTRY_TABLE, ITERATION_DEFAULTS (JSON, optional).
AWS: s3:ListBucket (feedback/, annotations/), s3:GetObject (feedback/*, annotations/*),
s3:PutObject (reviews/*), dynamodb:PutItem/GetItem (registry table), states:DescribeExecution
(lock holder).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code
from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.iteration import (
    Iteration,
    IterationInput,
    new_items_summary,
    unsettled_records,
)
from textloop.domain.timestamps import format_timestamp
from textloop.steps.payloads import step_schema

EVENT = step_schema(
    input={},
    execution_arn={"type": "string", "minLength": 1},
    iteration_id={"type": "string", "minLength": 1},
    started_at={"type": "string", "minLength": 1},
)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    parsed = IterationInput.parse(event["input"], ctx.iteration_defaults)
    model_type, config = parsed.model_type, parsed.config
    iteration_id = event["iteration_id"]

    pool = ctx.pools.current(model_type)
    fresh = unsettled_records(ctx.lake.feedback_records(), model_type, pool)
    new_items = new_items_summary(len(fresh), config.min_new_items)
    if new_items["enough"]:
        # Otherwise the iteration ends here (RecordNoOp): nothing will be selected.
        ctx.lake.put_records(layout.new_feedback_key(iteration_id), fresh)

    lock = ctx.registry.acquire(
        model_type,
        holder=event["execution_arn"],
        iteration_id=iteration_id,
        ttl_seconds=config.lock_ttl_seconds,
        is_running=lambda holder: _is_running(ctx, holder),
    )
    if lock.taken_over_from:
        ctx.logger.warning(
            "took over a stale lock", extra={"previous_holder": lock.taken_over_from}
        )
    ctx.count("NewFeedbackItems", len(fresh))
    ctx.logger.info(
        "iteration prepared",
        extra={"model_type": model_type, "new_items": new_items, "lock": lock.to_dict()},
    )
    return Iteration(
        iteration_id=iteration_id,
        execution_arn=event["execution_arn"],
        started_at=format_timestamp(event["started_at"]),
        model_type=model_type,
        mode=parsed.mode,
        config=config,
        lock=lock.to_dict(),
        new_items=new_items,
        trigger=parsed.trigger,
        started_by=parsed.started_by,
    ).to_dict()


def _is_running(ctx: Stack, execution_arn: str) -> bool:
    try:
        described = ctx.clients.get("stepfunctions").describe_execution(executionArn=execution_arn)
    except ClientError as exc:
        if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return False
        raise
    return described["status"] == "RUNNING"

"""ReturnToPool: a review batch passed its deadline unanswered (or its human loop failed).

The batch is marked expired (written once), so late answers are refused with 409 and its items,
never answered, come back as candidates in a later iteration. If answers landed in the moment
between the deadline and this step, they are used rather than thrown away.

Environment: DATA_LAKE_BUCKET.
AWS: s3:GetObject, s3:PutObject (reviews/*).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from textloop.adapters.stack import Stack
from textloop.domain.iteration import Iteration
from textloop.steps.payloads import BATCH, ITERATION, step_schema

EVENT = step_schema(batch=BATCH, iteration=ITERATION)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    iteration_id = Iteration.from_dict(event["iteration"]).iteration_id
    batch_id = event["batch"]["batch_id"]
    answers = ctx.reviews.answers(iteration_id, batch_id)
    if answers is not None:
        ctx.logger.info(
            "answers arrived at the deadline; keeping them", extra={"batch_id": batch_id}
        )
        return {"batch_id": batch_id, "status": "answered", "answered": answers["answered_items"]}
    ctx.reviews.expire(iteration_id, batch_id, at=datetime.now(UTC))
    ctx.count("ReviewBatchesExpired")
    ctx.logger.info("review batch expired", extra={"batch_id": batch_id})
    return {"batch_id": batch_id, "status": "expired", "answered": 0}

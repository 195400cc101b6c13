"""Prepare: validate the iteration input, apply the settings, see what feedback is new, take the
per-model lock.

What is new follows the model type's watermark (``domain.intake``): Prepare lists only the hour
prefixes from ``watermark hour - intake_lateness_hours`` to the hour the iteration started in,
reads the files there it has not read before, and adds the carry-over of earlier iterations; the
first iteration without a watermark reads the model type's partition tree and the old
per-record layout once. It writes what it read and the watermark it proposes to
``layout.intake_key``; only a decided iteration's Record step commits them. The new feedback
(the records no person has answered yet) is counted as the files stream by, each line parsed
once and no record held: the proposal names the files read with their ETags, and only the
records that are in no file (the carry-over, the old layout's) are stored for the iteration
(``layout.new_feedback_key``), when there is enough to go on. SelectForReview and Record read
those files again, conditional on the ETags (``DataLake.feedback_file_rows``), so Select chooses
from exactly what Prepare counted, at a memory that follows one file, not the feedback.
The output's ``intake`` says how many prefixes were listed and files read.

The lock is taken last, so an input error or a failed scan never leaves it held. A lock whose
holder's execution is no longer RUNNING (crashed, stopped by hand) is taken over at once; one
that outlived ``IterationConfig.lock_ttl_seconds`` is free anyway.

Environment: DATA_LAKE_BUCKET, REGISTRY_TABLE, ITERATION_DEFAULTS (JSON, optional).
AWS: s3:ListBucket (feedback/, annotations/), s3:GetObject (feedback/*, annotations/*,
reviews/watermarks/*, reviews/carry-over/*), s3:PutObject (reviews/*), dynamodb:PutItem/GetItem
(registry table), states:DescribeExecution (lock holder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code
from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.annotations import PoolVersion
from textloop.domain.feedback import FeedbackRecord
from textloop.domain.intake import (
    Watermark,
    decode_carry_over,
    files_to_read,
    first_of_each,
    next_watermark,
    read_plan,
)
from textloop.domain.iteration import (
    Iteration,
    IterationConfig,
    IterationInput,
    new_items_summary,
    unsettled_records,
    unsettled_rows,
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

    started_at = format_timestamp(event["started_at"])
    pool = ctx.pools.current(model_type)
    new = read_new_feedback(ctx, model_type, started_at, config, pool)
    new_items = new_items_summary(new.count, config.min_new_items)
    if new_items["enough"]:
        # Otherwise the iteration ends here (RecordNoOp): nothing will be selected, nothing
        # committed. Record commits this proposal only for a decided iteration (intake.py).
        # The files are not copied: the proposal names them with their ETags, and Select and
        # Record read them again (``intake.iteration_rows``); only the records that are not in
        # them (the carry-over, the old layout) are stored, first, so a retried Prepare writes
        # the same two objects.
        ctx.lake.put_json(layout.intake_key(iteration_id), new.proposal)
        ctx.lake.put_records(layout.new_feedback_key(iteration_id), new.stored)

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
    ctx.count("NewFeedbackItems", new.count)
    ctx.count("FeedbackPrefixesListed", new.summary["prefixes_listed"])
    ctx.count("FeedbackFilesRead", new.summary["files_read"])
    ctx.logger.info(
        "iteration prepared",
        extra={
            "model_type": model_type,
            "new_items": new_items,
            "intake": new.summary,
            "lock": lock.to_dict(),
        },
    )
    return Iteration(
        iteration_id=iteration_id,
        execution_arn=event["execution_arn"],
        started_at=started_at,
        model_type=model_type,
        mode=parsed.mode,
        config=config,
        lock=lock.to_dict(),
        new_items=new_items,
        trigger=parsed.trigger,
        started_by=parsed.started_by,
        intake=new.summary,
    ).to_dict()


@dataclass
class NewFeedback:
    """What Prepare read: ``count`` unsettled records; ``stored``, the records not in the
    feedback files (carry-over, then the old layout's), each the first of its id; ``proposal``,
    what ``layout.intake_key`` holds (watermark, summary, first-seen times, the files read with
    their ETags, the pool version the count was made against)."""

    count: int
    stored: list[FeedbackRecord]
    proposal: dict[str, Any]

    @property
    def summary(self) -> dict[str, Any]:
        return self.proposal["summary"]


def read_new_feedback(
    ctx: Stack,
    model_type: str,
    started_at: str,
    config: IterationConfig,
    pool: PoolVersion | None,
) -> NewFeedback:
    """The carry-over and the feedback files the watermark has not read (``domain.intake``),
    counted as they stream by (each record once, by id; unsettled against ``pool``), and the
    proposal Record commits."""
    watermark = Watermark.from_dict(ctx.lake.get_json(layout.watermark_key(model_type)))
    plan = read_plan(watermark, layout.feedback_hour(started_at), config.intake_lateness_hours)
    if plan.first:
        prefixes = [layout.feedback_model_type_prefix(model_type)]
    else:
        prefixes = [layout.feedback_hour_prefix(model_type, h) for h in plan.hours]
    etags = dict(entry for prefix in prefixes for entry in ctx.lake.listing(prefix))
    keys = files_to_read(etags, watermark)
    files = [{"key": key, "etag": etags[key]} for key in keys]
    carried, first_seen = decode_carry_over(ctx.lake.get_bytes(layout.carry_over_key(model_type)))
    legacy: list[FeedbackRecord] = []
    if plan.first:
        # The deployment's first incremental iteration: the one-object-per-record layout, once.
        legacy = ctx.lake.feedback_records(layout.legacy_feedback_prefix())

    seen: set[str] = set()
    stored = [r for r in carried if r.id not in seen and not seen.add(r.id)]
    rows = first_of_each(ctx.lake.feedback_file_rows(files), seen)
    count = sum(1 for _ in unsettled_rows(rows, model_type, pool))
    # The old layout after the files, as before: a record in both is the file's.
    legacy_first = [r for r in legacy if r.id not in seen and not seen.add(r.id)]
    stored += legacy_first
    count += len(unsettled_records(stored, model_type, pool))
    summary: dict[str, Any] = {
        "watermark_hour": watermark.hour if watermark else None,
        "start_hour": plan.start_hour,
        "lateness_hours": plan.lateness,
        "prefixes_listed": len(prefixes),
        "first_hour_listed": plan.hours[0] if plan.hours else None,
        "files_listed": len(etags),
        "files_read": len(keys),
        "carried_over": len(carried),
        "legacy_records": len(legacy),
        "records_read": len(seen),
    }
    if plan.first:
        summary["note"] = (
            "first incremental iteration of this model type (no watermark): read its whole "
            f"partition tree and the old per-record layout ({len(legacy)} record(s)) once"
        )
    proposal = next_watermark(plan, watermark, keys)
    return NewFeedback(
        count=count,
        stored=stored,
        proposal={
            "watermark": proposal.to_dict(),
            "summary": summary,
            "first_seen": first_seen,
            "files": files,
            "pool_version": pool.pool_version if pool else None,
            "new_items": count,
        },
    )


def _is_running(ctx: Stack, execution_arn: str) -> bool:
    try:
        described = ctx.clients.get("stepfunctions").describe_execution(executionArn=execution_arn)
    except ClientError as exc:
        if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return False
        raise
    return described["status"] == "RUNNING"

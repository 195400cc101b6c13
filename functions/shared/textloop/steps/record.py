"""RecordNoOp, RecordDecision, RecordFailure, RecordPrepareFailure: the iteration's audit record.

``outcome`` (set by the state machine): ``NO_OP`` (not enough new feedback; record status
NO_DECISION, the reason in ``inputs``), ``DECIDED`` (PROMOTED, REJECTED, or REFUSED by the
gate; a promotion a person declined is REJECTED), ``FAILED`` (with the failing step, error and
cause; ``progress`` is the state machine's whole state, from which the record takes whatever
steps completed). RecordPrepareFailure sends ``execution`` (the execution's name, ARN, start
and input) instead of ``iteration``: Prepare failed, so there is none; the record then holds
the iteration as far as the input tells it (``iteration.unprepared_iteration``), the input as
given, and the failure in Prepare. The record (``audit.build_audit_record``, validated against
its schema) is written once to ``layout.audit_key``; a retried step returns the stored one.

Returns ``{key, status, outcome, summary}``; ``summary`` is the notification's text.

Environment: DATA_LAKE_BUCKET, ITERATION_DEFAULTS (a failed Prepare's record shows them).
RecordDecision also commits the intake watermark and the carry-over Prepare proposed
(``domain.intake``: only a decided iteration moves them; the record's ``inputs.intake`` says what
was read, what was carried and what expired, and why).

AWS: s3:GetObject (feedback/*: the files Prepare read, for the carry-over; reviews/*,
annotations/*, datasets/*, models/*, audit/*),
s3:PutObject (audit/*, reviews/watermarks/*, reviews/carry-over/*).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.audit import (
    build_audit_record,
    failed_state,
    failure_info,
    flywheel_summary,
    record_status,
    summary_of,
    validate_audit_record,
)
from textloop.domain.errors import InvalidIterationInput
from textloop.domain.intake import carry_over, encode_carry_over, iteration_rows
from textloop.domain.iteration import (
    Iteration,
    IterationConfig,
    unprepared_iteration,
    unsettled_rows,
)
from textloop.steps.payloads import ITERATION, step_schema

_STRING = {"type": "string", "minLength": 1}
EXECUTION = {
    "type": "object",
    "required": ["execution_arn", "iteration_id", "started_at"],
    "properties": {
        "execution_arn": _STRING,
        "iteration_id": _STRING,
        "started_at": _STRING,
    },
}
# The execution input as the record keeps it: whole when small, else its JSON cut here.
MAX_INPUT_CHARS = 4096

EVENT = {
    **step_schema(
        optional={"iteration": ITERATION, "execution": EXECUTION},
        outcome={"enum": ["NO_OP", "DECIDED", "FAILED"]},
    ),
    "allOf": [
        {
            "$comment": "only a failed Prepare has no iteration; it sends the execution instead",
            "if": {"required": ["execution"]},
            "then": {"properties": {"outcome": {"const": "FAILED"}}, "required": ["failure"]},
            "else": {"required": ["iteration"]},
        },
        {
            "if": {
                "properties": {"outcome": {"const": "FAILED"}},
                "not": {"required": ["execution"]},
            },
            "then": {"required": ["failure", "progress"]},
        },
        {
            "if": {"properties": {"outcome": {"const": "DECIDED"}}},
            "then": {"required": ["evaluation", "promotion"]},
        },
    ],
}


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    if "execution" in event:
        iteration_id, record = prepare_failure_record(ctx, event)
    else:
        iteration_id = Iteration.from_dict(event["iteration"]).iteration_id
        record = record_for(ctx, event)
    key = layout.audit_key(iteration_id)
    validate_audit_record(record)
    if not ctx.lake.put_json(key, record, once=True):
        record = ctx.lake.get_json(key)
        ctx.logger.info("audit record already written", extra={"key": key})
    ctx.count("Iteration" + record["status"].title().replace("_", ""))
    ctx.logger.info("audit record written", extra={"key": key, "status": record["status"]})
    return {
        "key": key,
        "status": record["status"],
        "outcome": record["inputs"].get("outcome"),
        "summary": summary_of(record),
    }


def record_for(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    """The audit record of the iteration, from the state and the documents its steps stored."""
    it, outcome = Iteration.from_dict(event["iteration"]), event["outcome"]
    iteration_id = it.iteration_id
    progress: dict[str, Any] = event.get("progress") or event
    inputs: dict[str, Any] = {
        "outcome": outcome,
        "config": it.config.to_dict(),
        "new_items": None if it.new_items is None else dict(it.new_items),
        "trigger": it.trigger,
        "started_by": it.started_by,
    }
    if event.get("reason"):
        inputs["reason"] = event["reason"]
    intake = commit_intake(ctx, it, outcome)
    if intake is not None:
        inputs["intake"] = intake
    approval = ctx.lake.get_json(layout.approval_response_key(iteration_id))
    if approval is not None:
        inputs["approval"] = {k: approval.get(k) for k in ("approver", "approved", "comment")}
    selection = (
        ctx.lake.get_json(layout.selection_key(iteration_id)) if "selection" in progress else None
    )
    pool_result = progress.get("pool") or {}
    pool = ctx.pools.get(pool_result["pool_version"]) if pool_result.get("pool_version") else None
    dataset = progress.get("dataset") or {}
    evaluation = progress.get("evaluation") or {}
    training = progress.get("training") or {}
    decision = evaluation.get("decision")
    failure = None
    if outcome == "FAILED":
        raw = event["failure"]
        failure = failure_info(
            failed_state(progress, raw.get("Error")), raw.get("Error"), raw.get("Cause")
        )
    return build_audit_record(
        iteration_id=iteration_id,
        execution_arn=it.execution_arn,
        started_at=it.started_at,
        finished_at=datetime.now(UTC),
        model_type=it.model_type,
        mode=it.mode,
        inputs=inputs,
        selection=selection["selection"] if selection else None,
        answers=(
            ctx.reviews.iteration_answers(
                iteration_id, progress["reviews"].get("batches", []), strict=False
            )
            if "reviews" in progress
            else []
        ),
        pool=pool,
        previous_pool_version=pool_result.get("previous_pool_version"),
        dataset_manifest=(
            ctx.lake.get_json(dataset["manifest_key"]) if dataset.get("manifest_key") else None
        ),
        candidate_evaluation=_document(ctx, evaluation.get("candidate_key")),
        candidate_model_version=training.get("model_version"),
        active_evaluation=_document(ctx, evaluation.get("active_key")),
        active_model_version=(decision or {}).get("active_model_version"),
        decision=decision,
        failure=failure,
        status=record_status(outcome, decision, event.get("promotion")),
        flywheel=flywheel_summary(training.get("job")),
    )


def commit_intake(ctx: Stack, it: Iteration, outcome: str) -> dict[str, Any] | None:
    """Commit the watermark Prepare proposed and the carry-over (``domain.intake``) when the
    iteration decided; a no-op or a failure commits nothing, so the next iteration reads the
    same files again. What happened, for the audit record; None when Prepare proposed nothing
    (an execution that started before incremental intake)."""
    if it.intake is None:
        return None
    if outcome != "DECIDED":
        return {
            **it.intake,
            "committed": False,
            "reason": "the watermark and the carry-over move only when an iteration decides: "
            "the next iteration reads these files again",
        }
    proposal = ctx.lake.get_json(layout.intake_key(it.iteration_id))
    if proposal is None:
        raise LookupError(f"Prepare stored no intake proposal for iteration {it.iteration_id}")
    stored = ctx.lake.get_bytes(layout.new_feedback_key(it.iteration_id))
    rows = iteration_rows(
        gzip.compress(b"") if stored is None else stored,
        ctx.lake.feedback_file_rows(proposal.get("files") or []),
        where=layout.new_feedback_key(it.iteration_id),
    )
    unsettled = 0

    def left() -> Iterator[Mapping[str, Any]]:
        # Streamed: only what the carry-over keeps is held, and becomes a record.
        nonlocal unsettled
        for row in unsettled_rows(rows, it.model_type, ctx.pools.current(it.model_type)):
            unsettled += 1
            yield row

    config = it.config
    kept = carry_over(
        left(),
        now=it.started_at,
        first_seen=proposal["first_seen"],
        limit=config.carry_over_limit,
        max_age_days=config.carry_over_max_age_days,
        strategy=config.selection_strategy,
        mode=it.mode,
    )
    # The carry-over first: a crash between the two writes leaves the old watermark, and the
    # next iteration reads those files again (records are merged by id).
    ctx.lake.put_bytes(
        layout.carry_over_key(it.model_type),
        encode_carry_over(kept.kept, kept.first_seen),
        "application/x-ndjson",
    )
    ctx.lake.put_json(layout.watermark_key(it.model_type), proposal["watermark"])
    return {
        **proposal["summary"],
        "committed": True,
        "watermark_hour": proposal["watermark"]["hour"],
        "previous_watermark_hour": proposal["summary"]["watermark_hour"],
        "carry_over": {"unsettled": unsettled, **kept.audit()},
    }


def prepare_failure_record(ctx: Stack, event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(iteration id, audit record)`` of an execution whose Prepare step failed: nothing else
    ran, so the record is the iteration as far as its input tells, the input, and the error."""
    execution, raw = event["execution"], event["failure"]
    try:
        deployment = ctx.iteration_defaults
    except InvalidIterationInput:
        # ITERATION_DEFAULTS itself is what Prepare refused: show the built-in settings.
        deployment = IterationConfig()
    it = unprepared_iteration(
        iteration_id=execution["iteration_id"],
        execution_arn=execution["execution_arn"],
        started_at=execution["started_at"],
        data=execution.get("input"),
        deployment=deployment,
    )
    inputs: dict[str, Any] = {
        "outcome": "FAILED",
        "config": it.config.to_dict(),
        "new_items": None,
        "trigger": it.trigger,
        "started_by": it.started_by,
        **_as_given(execution.get("input")),
    }
    record = build_audit_record(
        iteration_id=it.iteration_id,
        execution_arn=it.execution_arn,
        started_at=it.started_at,
        finished_at=datetime.now(UTC),
        model_type=it.model_type,
        mode=it.mode,
        inputs=inputs,
        failure=failure_info("Prepare", raw.get("Error"), raw.get("Cause")),
        status="FAILED",
    )
    return it.iteration_id, record


def _as_given(value: Any) -> dict[str, Any]:
    """``{"input": value}``, or its JSON cut to ``MAX_INPUT_CHARS`` with ``input_truncated``: a
    rejected input can be anything up to Step Functions' 256 KiB."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return {"input": None, "input_truncated": True}
    if len(text) <= MAX_INPUT_CHARS:
        return {"input": value}
    return {"input": text[:MAX_INPUT_CHARS], "input_truncated": True}


def _document(ctx: Stack, key: str | None) -> Any:
    return ctx.lake.get_json(key) if key else None

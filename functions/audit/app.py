"""RecordNoOp / RecordDecision / RecordFailure steps: the iteration's audit record.

``outcome`` (set by the state machine): ``NO_OP`` (not enough new feedback; record status
NO_DECISION, the reason in ``inputs``), ``DECIDED`` (PROMOTED, REJECTED, or REFUSED by the
gate; a promotion a person declined is REJECTED), ``FAILED`` (with the failing step, error and
cause; ``progress`` is the state machine's whole state, from which the record takes whatever
steps completed). The record (``audit.build_audit_record``, validated against its schema) is
written once to ``audit/iterations/<iteration_id>.json``; a retried step returns the stored one.

Returns ``{key, status, outcome, summary}``; ``summary`` is the notification's text.

Environment: DATA_LAKE_BUCKET.
AWS: s3:GetObject (reviews/*, annotations/*, datasets/*, models/*, audit/*),
s3:PutObject (audit/*).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import reviews, step_events
from textloop.adapters.environment import Stack
from textloop.audit import audit_key, build_audit_record, failure_info, validate_audit_record

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = {
    **step_events.step_schema(
        iteration=step_events.ITERATION, outcome={"enum": ["NO_OP", "DECIDED", "FAILED"]}
    ),
    "allOf": [
        {
            "if": {"properties": {"outcome": {"const": "FAILED"}}},
            "then": {"required": ["failure", "progress"]},
        },
        {
            "if": {"properties": {"outcome": {"const": "DECIDED"}}},
            "then": {"required": ["evaluation", "promotion"]},
        },
    ],
}
# Where the state machine keeps each step's result, in execution order.
_STEPS = (
    ("selection", "SelectForReview"),
    ("reviews", "Review"),
    ("pool", "MergeAnswers"),
    ("dataset", "BuildDatasets"),
    ("training", "Train"),
    ("test_predictions", "PredictTestSet"),
    ("evaluation", "Evaluate"),
)
# Polling loops: a result that is still running names the poll step, not the next step.
_POLLS = {
    "training": ("TRAINED", "DescribeTraining"),
    "test_predictions": ("COMPLETED", "DescribeTestPredictions"),
}


def failed_state(progress: dict[str, Any], error: str | None) -> str:
    """The step that failed, from which results the state holds (``$$.State.Name`` in a Catch
    target names the target, not the step that failed)."""
    if error in ("Textloop.TrainingFailed", "Textloop.TrainingTimedOut"):
        return "DescribeTraining"
    if error in ("Textloop.TestPredictionsFailed", "Textloop.TestPredictionsTimedOut"):
        return "DescribeTestPredictions"
    for key, state in _STEPS:
        if key not in progress:
            return state
        done, poll_state = _POLLS.get(key, (None, None))
        if done is not None and progress[key].get("status") != done:
            return poll_state
    if "promotion" not in progress:
        manual = progress.get("iteration", {}).get("config", {}).get("manual_approval")
        return "WaitForApproval" if manual and "approval" not in progress else "PromoteCandidate"
    return "RecordDecision"


def answers_of(iteration_id: str, progress: dict[str, Any]) -> list[dict[str, Any]]:
    selection = stack.lake.get_json(reviews.selection_key(iteration_id)) or {}
    answers = list(selection.get("corrections", []))
    for result in progress.get("reviews", {}).get("batches", []):
        if result.get("status") == "answered":
            document = stack.reviews.answers(iteration_id, result["batch_id"])
            answers += (document or {}).get("answers", [])
    return answers


def record_for(event: dict[str, Any]) -> dict[str, Any]:
    it, outcome = event["iteration"], event["outcome"]
    progress: dict[str, Any] = event.get("progress") or event
    inputs: dict[str, Any] = {
        "outcome": outcome,
        "config": it["config"],
        "new_items": it.get("new_items"),
    }
    if event.get("reason"):
        inputs["reason"] = event["reason"]
    approval = stack.lake.get_json(reviews.approval_response_key(it["iteration_id"]))
    if approval is not None:
        inputs["approval"] = {k: approval.get(k) for k in ("approver", "approved", "comment")}
    selection_doc = (
        stack.lake.get_json(reviews.selection_key(it["iteration_id"]))
        if "selection" in progress
        else None
    )
    pool_result = progress.get("pool") or {}
    pool = stack.pools.get(pool_result["pool_version"]) if pool_result.get("pool_version") else None
    dataset = progress.get("dataset") or {}
    evaluation = progress.get("evaluation") or {}
    training = progress.get("training") or {}
    decision = evaluation.get("decision")
    failure = None
    status = None
    if outcome == "FAILED":
        raw = event["failure"]
        failure = failure_info(
            failed_state(progress, raw.get("Error")), raw.get("Error"), raw.get("Cause")
        )
        status = "FAILED"
    elif outcome == "NO_OP":
        status = "NO_DECISION"
    elif decision is not None:
        if decision.get("outcome") == "refuse":
            status = "REFUSED"
        elif decision.get("promote") and (event.get("promotion") or {}).get("promoted"):
            status = "PROMOTED"
        else:
            status = "REJECTED"
    candidate = (
        stack.lake.get_json(evaluation["candidate_key"])
        if evaluation.get("candidate_key")
        else None
    )
    active = stack.lake.get_json(evaluation["active_key"]) if evaluation.get("active_key") else None
    return build_audit_record(
        iteration_id=it["iteration_id"],
        execution_arn=it["execution_arn"],
        started_at=it["started_at"],
        finished_at=datetime.now(UTC),
        model_type=it["model_type"],
        mode=it["mode"],
        inputs=inputs,
        selection=selection_doc["selection"] if selection_doc else None,
        answers=answers_of(it["iteration_id"], progress) if "reviews" in progress else [],
        pool=pool,
        previous_pool_version=pool_result.get("previous_pool_version"),
        dataset_manifest=(
            stack.lake.get_json(dataset["manifest_key"]) if dataset.get("manifest_key") else None
        ),
        candidate_evaluation=candidate,
        candidate_model_version=training.get("model_version"),
        active_evaluation=active,
        active_model_version=(decision or {}).get("active_model_version"),
        decision=decision,
        failure=failure,
        status=status,
    )


def summary_of(record: dict[str, Any]) -> str:
    head = (
        f"textloop iteration {record['iteration_id']} ({record['model_type']}): {record['status']}"
    )
    lines = [head]
    if record["inputs"].get("outcome") == "NO_OP":
        lines.append(f"No iteration run: {record['inputs'].get('reason')}.")
    if record["decision"]:
        lines.append(record["decision"]["reason"])
    if record["failure"]:
        failure = record["failure"]
        message = failure.get("error_message") or (failure.get("cause") or "")[:500]
        lines.append(f"Failed in {failure['state']}: {failure['error']}: {message}")
    if record["reviewed_items"]:
        lines.append(
            f"{len(record['reviewed_items'])} item(s) answered by {len(record['reviewers'])} "
            "reviewer(s)."
        )
    lines.append(f"Audit record: {record['key']}")
    return "\n".join(lines)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "audit")
    it = event["iteration"]
    logger.set_correlation_id(it["execution_arn"])
    key = audit_key(it["iteration_id"])
    record = record_for(event)
    validate_audit_record(record)
    if not stack.lake.put_json(key, record, once=True):
        record = stack.lake.get_json(key)
        logger.info("audit record already written", extra={"key": key})
    metrics.add_metric(
        name="Iteration" + record["status"].title().replace("_", ""), unit=MetricUnit.Count, value=1
    )
    logger.info("audit record written", extra={"key": key, "status": record["status"]})
    return {
        "key": key,
        "status": record["status"],
        "outcome": record["inputs"].get("outcome"),
        "summary": summary_of(record),
    }

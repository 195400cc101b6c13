"""StartReview step (``.waitForTaskToken``): store the batch task with the token and open it.

``REVIEW_BACKEND=local``: the task in the data lake is the whole review; the review API lists it
and its answers complete the token. ``REVIEW_BACKEND=a2i``: also StartHumanLoop, named after the
batch; the A2I callback completes the token when the loop finishes. The step's own return value
is ignored by Step Functions: the iteration waits for the token.

Environment: DATA_LAKE_BUCKET, REVIEW_BACKEND (local | a2i), A2I_FLOW_DEFINITION_ARN (a2i).
AWS: s3:GetObject (reviews/*), s3:PutObject (reviews/*), sagemaker:StartHumanLoop (a2i; the
IAM action of the sagemaker-a2i-runtime API, on the flow definition ARN).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import reviews, step_events
from textloop.adapters.a2i import HumanLoops
from textloop.adapters.environment import Stack

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(
    batch=step_events.BATCH,
    iteration=step_events.ITERATION,
    task_token={"type": "string", "minLength": 1},
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "start_review")
    it, batch_ref = event["iteration"], event["batch"]
    logger.set_correlation_id(it["execution_arn"])
    backend = stack.setting("REVIEW_BACKEND", "local")
    if backend not in ("local", "a2i"):
        raise ValueError(f"REVIEW_BACKEND must be local or a2i, got {backend!r}")
    selection = stack.lake.get_json(reviews.selection_key(it["iteration_id"]))
    if selection is None:
        raise LookupError(f"no selection for iteration {it['iteration_id']}")
    batch = next((b for b in selection["batches"] if b["batch_id"] == batch_ref["batch_id"]), None)
    if batch is None:
        raise LookupError(f"batch {batch_ref['batch_id']} is not in the selection")
    now = datetime.now(UTC)
    task = reviews.build_task(
        batch=batch,
        iteration_id=it["iteration_id"],
        model_type=it["model_type"],
        mode=it["mode"],
        options=selection["options"],
        task_token=event["task_token"],
        created_at=now,
        deadline=now + timedelta(seconds=int(it["config"]["review_timeout_seconds"])),
        review_backend=backend,
    )
    key = stack.reviews.put_task(task)
    result = {"batch_id": batch["batch_id"], "task_key": key, "review_backend": backend}
    if backend == "a2i":
        loop = HumanLoops(stack.clients.get("sagemaker-a2i-runtime")).start(
            batch["batch_id"],
            stack.required("A2I_FLOW_DEFINITION_ARN"),
            reviews.a2i_input_content(task),
        )
        result["human_loop"] = loop
    metrics.add_metric(name="ReviewItemsOpened", unit=MetricUnit.Count, value=len(task["items"]))
    logger.info("review opened", extra=result)
    return result

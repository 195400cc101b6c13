"""StartReview (``.waitForTaskToken``): store the batch task with the token and open it.

``REVIEW_BACKEND=local``: the task in the data lake is the whole review; the review API lists it
and its answers complete the token. ``REVIEW_BACKEND=a2i``: also StartHumanLoop, named after the
batch; the A2I callback completes the token when the loop finishes. The step's own return value
is ignored by Step Functions: the iteration waits for the token.

An entity recogniser's batch goes to its own flow definition (A2I_ENTITY_FLOW_DEFINITION_ARN),
whose worker template is ``crowd-entity-annotation``: a task UI belongs to a flow definition.

Environment: DATA_LAKE_BUCKET, REVIEW_BACKEND (local | a2i), A2I_FLOW_DEFINITION_ARN (a2i,
document classifiers), A2I_ENTITY_FLOW_DEFINITION_ARN (a2i, entity recognisers).
AWS: s3:GetObject (reviews/*), s3:PutObject (reviews/*), sagemaker:StartHumanLoop (a2i; the
IAM action of the sagemaker-a2i-runtime API, on the flow definition ARN).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from textloop.adapters.a2i import HumanLoops
from textloop.adapters.stack import Stack
from textloop.domain import layout, reviews
from textloop.domain.iteration import Iteration
from textloop.steps.payloads import BATCH, ITERATION, step_schema

EVENT = step_schema(
    batch=BATCH,
    iteration=ITERATION,
    task_token={"type": "string", "minLength": 1},
)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    it = Iteration.from_dict(event["iteration"])
    batch_id = event["batch"]["batch_id"]
    backend = ctx.setting("REVIEW_BACKEND", "local")
    if backend not in ("local", "a2i"):
        raise ValueError(f"REVIEW_BACKEND must be local or a2i, got {backend!r}")
    selection = ctx.lake.get_json(layout.selection_key(it.iteration_id))
    if selection is None:
        raise LookupError(f"no selection for iteration {it.iteration_id}")
    batch = next((b for b in selection["batches"] if b["batch_id"] == batch_id), None)
    if batch is None:
        raise LookupError(f"batch {batch_id} is not in the selection")
    now = datetime.now(UTC)
    task = reviews.build_task(
        batch=batch,
        iteration_id=it.iteration_id,
        model_type=it.model_type,
        mode=it.mode,
        options=selection["options"],
        task_token=event["task_token"],
        created_at=now,
        deadline=now + timedelta(seconds=it.config.review_timeout_seconds),
        review_backend=backend,
        execution_arn=it.execution_arn,
    )
    key = ctx.reviews.put_task(task)
    result = {"batch_id": batch_id, "task_key": key, "review_backend": backend}
    if backend == "a2i":
        flow = (
            "A2I_ENTITY_FLOW_DEFINITION_ARN"
            if reviews.is_entity_task(task)
            else "A2I_FLOW_DEFINITION_ARN"
        )
        result["human_loop"] = HumanLoops(ctx.clients.get("sagemaker-a2i-runtime")).start(
            batch_id, ctx.required(flow), reviews.a2i_input_content(task)
        )
    ctx.count("ReviewItemsOpened", len(task["items"]))
    ctx.logger.info("review opened", extra=result)
    return result

"""The local review API: what the review page and the CLI use. Every route needs a reviewer's
bearer token (``api.http.person``, group ``reviewers``): 401 without a valid one, 403 outside
the group.

* ``GET /reviews``: open batches (``batch_id``, ``iteration_id``, ``items``, ``created_at``,
  ``deadline``), oldest first; only those whose iteration still waits (its execution RUNNING).
* ``GET /reviews/{batch_id}``: the batch task with its items, suggestions and options (never the
  task token) and its status (``pending``, ``answered``, ``expired``, or how its iteration ended:
  ``failed``, ``stopped``...). An entity recogniser's batch also has ``entity_types``, and each
  item's suggestion is the model's spans with scores (``domain.reviews``).
* ``POST /reviews/{batch_id}/answers`` ``{"answers": [{"item_id", "labels"}]}``, for an entity
  recogniser ``{"answers": [{"item_id", "entities": [{begin_offset, end_offset, type}]}]}``
  (``[]``: no entities; a bad span is a 400 naming it, ``answers[1].entities[0].end_offset``):
  the answers are recorded as the token's person's; a ``reviewer_id`` in the body is ignored
  (logged as ignored, never trusted). 200 ``{batch_id, status, answered, duplicate}``; 400
  naming the field; 404 unknown batch; 409 ``{message, batch_id, status}`` when the iteration no
  longer waits on the batch (``expired``, or the execution's status: ``stopped``, ``failed``,
  ...) or it was already answered with other answers (``answered``); nothing is stored then.
  Sending the same answers again is a 200 duplicate that changes nothing.

Environment: DATA_LAKE_BUCKET and the people token issuer (``adapters.people``).
AWS: s3:ListBucket (reviews/index/), s3:GetObject (reviews/*), s3:PutObject, s3:DeleteObject
(reviews/*), states:SendTaskSuccess (the iteration state machine's tasks),
states:DescribeExecution (the iteration's executions); locally kms:GetPublicKey (the people
token key).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response

from textloop.adapters.reviews_store import (
    BatchClosed,
    BatchNotFound,
    closed_state,
    complete_batch,
)
from textloop.adapters.stack import Stack
from textloop.api.http import ctx, json_body, json_response, person, resolver
from textloop.domain import reviews
from textloop.domain.identity import REVIEWERS
from textloop.domain.validation import InvalidInput

app = resolver()


@app.exception_handler(BatchNotFound)
def batch_not_found(exc: BatchNotFound) -> Response:
    return json_response(404, {"message": str(exc)})


@app.exception_handler(BatchClosed)
def batch_closed(exc: BatchClosed) -> Response:
    return json_response(409, {"message": str(exc), "batch_id": exc.batch_id, "status": exc.status})


@app.get("/reviews")
def list_reviews() -> Response:
    person(app, REVIEWERS)
    stack = ctx(app)
    # Open by their own records, and their iteration still waits: a reviewer never gets work
    # whose answers would be refused. One DescribeExecution per iteration, not per batch.
    waiting: dict[str, bool] = {}
    pending = []
    for batch in stack.reviews.pending(datetime.now(UTC)):
        iteration_id = batch["iteration_id"]
        if iteration_id not in waiting:
            waiting[iteration_id] = _waiting_status(stack, stack.reviews.task(batch["batch_id"]))
        if waiting[iteration_id] == "pending":
            pending.append(batch)
    return json_response(200, {"reviews": pending, "count": len(pending)})


@app.get("/reviews/<batch_id>")
def get_review(batch_id: str) -> Response:
    person(app, REVIEWERS)
    stack = ctx(app)
    task = stack.reviews.task(batch_id)
    status = stack.reviews.status(task["iteration_id"], batch_id)
    if status == "pending":
        status = _waiting_status(stack, task)
    return json_response(200, {**reviews.public_task(task), "status": status})


def _waiting_status(stack: Stack, task: dict) -> str:
    """``pending`` while the task's execution runs, else how it ended (``failed``,
    ``stopped``...). Tasks stored before executions were recorded in them count as waiting."""
    if not task.get("execution_arn"):
        return "pending"
    status = stack.tokens.execution_status(task["execution_arn"])
    return "pending" if status == "RUNNING" else closed_state(status)


@app.post("/reviews/<batch_id>/answers")
def post_answers(batch_id: str) -> Response:
    stack = ctx(app)
    reviewer = person(app, REVIEWERS)
    data = json_body(app)
    try:
        submission = reviews.parse_submission(data, reviewer_id=reviewer.id)
        result = complete_batch(
            stack.reviews, stack.tokens, batch_id, [submission], source="review-api"
        )
    except InvalidInput:
        stack.count("ReviewAnswersRejected")
        raise
    if not result.token_delivered:
        stack.logger.info(
            "iteration no longer waits on this batch",
            extra={"batch_id": batch_id, "code": result.token_code},
        )
    if isinstance(data, dict) and data.get("reviewer_id") not in (None, reviewer.id):
        stack.count("BodyIdentityIgnored")
        stack.logger.info("body reviewer_id ignored: the token names the reviewer")
    stack.count("ReviewBatchesAnswered")
    stack.logger.info("review answered", extra={**result.to_dict(), "reviewer": reviewer.id})
    return json_response(200, result.to_dict())

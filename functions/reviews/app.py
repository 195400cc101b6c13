"""The local review API (REST, API Gateway proxy): what the review page and the CLI use.

* ``GET /reviews``: open batches (``batch_id``, ``iteration_id``, ``items``, ``created_at``,
  ``deadline``), oldest first.
* ``GET /reviews/{batch_id}``: the batch task with its items, suggestions and options (never the
  task token) and its status.
* ``POST /reviews/{batch_id}/answers`` ``{"reviewer_id", "answers": [{"item_id", "labels"}]}``:
  200 ``{batch_id, status, answered, duplicate}``; 400 naming the field; 404 unknown batch; 409
  batch expired, or already answered with other answers. Sending the same answers again is a
  200 duplicate that changes nothing.

Environment: DATA_LAKE_BUCKET.
AWS: s3:ListBucket (reviews/index/), s3:GetObject (reviews/*), s3:PutObject (reviews/*),
states:SendTaskSuccess (the iteration state machine's tasks).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import reviews
from textloop.adapters.environment import Stack
from textloop.adapters.reviews_store import BatchClosed, BatchNotFound, complete_batch
from textloop.validation import InvalidInput, error_body, http_status, parse_json_body

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()
stack = Stack()


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.get("/reviews")
@tracer.capture_method
def list_reviews() -> Response:
    pending = stack.reviews.pending(datetime.now(UTC))
    return _json(200, {"reviews": pending, "count": len(pending)})


@app.get("/reviews/<batch_id>")
@tracer.capture_method
def get_review(batch_id: str) -> Response:
    try:
        task = stack.reviews.task(batch_id)
    except BatchNotFound as exc:
        return _json(404, {"message": str(exc)})
    status = stack.reviews.status(task["iteration_id"], batch_id)
    return _json(200, {**reviews.public_task(task), "status": status})


@app.post("/reviews/<batch_id>/answers")
@tracer.capture_method
def post_answers(batch_id: str) -> Response:
    event = app.current_event
    body = event.body
    if event.is_base64_encoded and body is not None:
        body = base64.b64decode(body)
    data, errors = parse_json_body(body)
    if errors:
        return _json(http_status(errors), error_body(errors))
    try:
        submission = reviews.parse_submission(data)
        result = complete_batch(
            stack.reviews, stack.tokens, batch_id, [submission], source="review-api"
        )
    except InvalidInput as exc:
        metrics.add_metric(name="ReviewAnswersRejected", unit=MetricUnit.Count, value=1)
        return _json(http_status(exc.errors), error_body(exc.errors))
    except BatchNotFound as exc:
        return _json(404, {"message": str(exc)})
    except BatchClosed as exc:
        return _json(409, {"message": str(exc), "batch_id": batch_id, "status": exc.status})
    if not result.token_delivered:
        logger.info(
            "iteration no longer waits on this batch",
            extra={"batch_id": batch_id, "code": result.token_code},
        )
    metrics.add_metric(name="ReviewBatchesAnswered", unit=MetricUnit.Count, value=1)
    logger.info("review answered", extra=result.to_dict())
    return _json(200, result.to_dict())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

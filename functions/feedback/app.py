"""POST /feedback: a user's like or dislike of a prediction, with an optional correction.

The record's id is a content hash and the write is conditional, so a retried request lands once
and answers the same id. The application id comes from the caller's API key, not the body.
"""

import base64
import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import feedback
from textloop.adapters.feedback_writer import S3FeedbackWriter
from textloop.validation import InvalidInput, error_body, http_status

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()

_writer = S3FeedbackWriter(boto3.client("s3"), os.environ["DATA_LAKE_BUCKET"])


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.post("/feedback")
@tracer.capture_method
def submit_feedback() -> Response:
    event = app.current_event
    body = event.body
    if event.is_base64_encoded and body is not None:
        body = base64.b64decode(body)
    now = datetime.now(UTC)
    request, errors = feedback.parse_feedback_request(
        body, application_id=event.request_context.identity.api_key_id, now=now
    )
    if errors:
        metrics.add_metric(name="FeedbackRejected", unit=MetricUnit.Count, value=1)
        return _json(http_status(errors), error_body(errors))
    try:
        record = feedback.build_explicit_api_record(
            request, now=now, request_id=event.request_context.request_id
        )
    except InvalidInput as exc:
        return _json(http_status(exc.errors), error_body(exc.errors))
    result = _writer.write(record)
    metrics.add_metric(name="ExplicitFeedback", unit=MetricUnit.Count, value=1)
    logger.info(
        "explicit feedback recorded",
        extra={
            "feedback_id": record["id"],
            "reason": record["reason"],
            "duplicate": not result.written,
        },
    )
    return _json(202, {"feedback_id": record["id"], "duplicate": not result.written})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

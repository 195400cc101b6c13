"""``POST /classify``: label(s) and confidence for a text from the active model.

A prediction the model is unsure of becomes an implicit feedback record (its origin names the
calling application), sent to the intake queue (one SQS SendMessage, ``adapters.feedback_queue``;
``events.write_feedback`` writes the lake's files). Its id is a content hash, so a retried
request is one record in the lake. A failed send fails the request (5xx): feedback is never
dropped. 403 when the API key belongs to no client application,
503 when no model was promoted yet (or the back-end cannot answer), 429 when it throttles.

Environment: DATA_LAKE_BUCKET, FEEDBACK_QUEUE_URL, ACTIVE_MODEL_PARAMETER_PREFIX,
ACTIVE_MODEL_MAX_AGE_SECONDS, THRESHOLD_OVERRIDE (optional JSON), CLIENT_APPLICATIONS.
AWS: ssm:GetParameter (the pointer), s3:GetObject (models/*), sqs:SendMessage (the feedback queue),
comprehend:ClassifyDocument (a Comprehend endpoint).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response
from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code
from textloop.api.http import HttpError, application, ctx, json_response, raw_body, resolver
from textloop.domain import inference
from textloop.domain.validation import InvalidInput

app = resolver()


@app.post("/classify")
def classify() -> Response:
    stack = ctx(app)
    caller = application(app)
    request_id = app.current_event.request_context.request_id
    request, errors = inference.parse_classify_request(raw_body(app))
    if errors:
        stack.count("ClassifyRejected")
        raise InvalidInput(errors)
    model_type = request["model_type"]
    try:
        active = stack.serving(model_type).current()
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            raise HttpError(
                503,
                f"no active model for {model_type}: train and promote one first",
                model_type=model_type,
            ) from None
        raise
    outcome = inference.classify(
        request["text"],
        active.backend,
        active.thresholds,
        now=datetime.now(UTC),
        request_id=request_id,
        application_id=caller.application_id,
    )
    body = inference.classify_response(outcome)
    body["request_id"] = request_id
    body["routed_to_review"] = outcome.decision.routed
    if outcome.record is not None:
        sent = stack.feedback_queue.send(outcome.record)
        stack.count("ImplicitFeedback")
        stack.logger.info(
            "implicit feedback queued",
            extra={"feedback_id": outcome.record.id, "duplicate": not sent.queued},
        )
    stack.count("Classified")
    stack.logger.info(
        "classified",
        extra={"model_version": body["model_version"], "routed_to_review": outcome.decision.routed},
    )
    return json_response(200, body)

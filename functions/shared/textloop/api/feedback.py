"""``POST /feedback``: a user's like or dislike of a prediction, with an optional correction.

The record's id is a content hash; the record is sent to the intake queue
(``adapters.feedback_queue``) and reaches the lake within the consumer's batching window
(``events.write_feedback``). 202 ``{feedback_id, duplicate}``: a retried request answers the same
id. ``duplicate`` is true only when it is known: this Lambda instance already queued the same
record (a retry that reached it again; nothing is sent twice). Otherwise it is false, and a
record queued twice is still one record in the lake (every reader keeps one per id). A failed
send is a 5xx, never a silent drop. The application comes from the
caller's API key, not the body: 403 when the key belongs to no client application, 400 naming
``submitter.application_id`` when the body names another application. The record carries the
application's trust: an untrusted application's correction is reviewed before it reaches the
annotation pool. 400 names the field at fault, 413 a text over the size limit.

The model version must be one that served (the active one or one the registry history names)
and the labels ones that model knows (``adapters.model_catalog``).

Environment: DATA_LAKE_BUCKET, FEEDBACK_QUEUE_URL, CLIENT_APPLICATIONS,
ACTIVE_MODEL_PARAMETER_PREFIX, REGISTRY_TABLE.
AWS: sqs:SendMessage (the feedback queue), ssm:GetParameter (the pointer), dynamodb:Query (registry
history), s3:GetObject (models/*: a version's labels).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response

from textloop.api.http import application, ctx, json_response, raw_body, resolver
from textloop.domain import feedback
from textloop.domain.validation import InvalidInput

app = resolver()


@app.post("/feedback")
def submit_feedback() -> Response:
    stack = ctx(app)
    caller = application(app)
    event = app.current_event
    now = datetime.now(UTC)
    request, errors = feedback.parse_feedback_request(
        raw_body(app), application_id=caller.application_id, now=now
    )
    if not errors:
        errors = stack.models.feedback_errors(request)
    if errors:
        stack.count("FeedbackRejected")
        raise InvalidInput(errors)
    record = feedback.build_explicit_api_record(
        request,
        now=now,
        request_id=event.request_context.request_id,
        trusted=caller.trusted,
    )
    result = stack.feedback_queue.send(record)
    stack.count("ExplicitFeedback")
    stack.logger.info(
        "explicit feedback queued",
        extra={
            "feedback_id": record.id,
            "reason": record.reason,
            "duplicate": not result.queued,
            "trusted": caller.trusted,
        },
    )
    return json_response(202, {"feedback_id": record.id, "duplicate": not result.queued})

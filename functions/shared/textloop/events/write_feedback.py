"""The intake queue's consumer: batches of feedback records become files in the lake.

Subscribed to the feedback queue (``<name>-feedback``) by an SQS event source mapping with
``ReportBatchItemFailures``; the classify and feedback APIs send one record per message
(``adapters.feedback_queue``). A batch (up to ``intake_batch_size`` messages, gathered for up to
``intake_batching_window_seconds``, Terraform variables) is grouped by (model type, partition
hour) and each group written as one gzipped JSON Lines file (``DataLake.put_feedback_file``):
named by the digest of its sorted lines and written only if absent, so a re-delivered batch
changes nothing.

A message's partition hour is the hour of its SQS ``SentTimestamp``: the moment it entered the
buffer, which does not change when it is delivered again, so a group's hour is the hour of its
earliest ``SentTimestamp`` (all its messages share it). A file lands at most the queue's delay
plus the batching window after its hour ends; readers re-list ``intake_lateness_hours`` back.

A message that is not a feedback record (bad JSON, a schema error, a wrong id) is reported as a
batch item failure: SQS delivers it again and, after the queue's ``maxReceiveCount``, moves it
to the dead-letter queue, whose depth raises an alarm. It is never dropped silently; only its
message id is logged, never its text. A group whose write fails is reported as failures too
(its messages come back), and the other groups' files stay written.

Environment: DATA_LAKE_BUCKET.
AWS: s3:PutObject (feedback/*); the event source mapping: sqs:ReceiveMessage,
sqs:DeleteMessage, sqs:GetQueueAttributes (the feedback queue).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.feedback import FeedbackRecord, validate_record
from textloop.domain.timestamps import format_timestamp
from textloop.domain.validation import loads

# The SQS event Lambda is sent (only what this handler reads is required; a message missing
# its body or timestamp is a failure of that message, not of the batch).
EVENT = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["Records"],
    "properties": {
        "Records": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["messageId"],
                "properties": {"messageId": {"type": "string", "minLength": 1}},
            },
        }
    },
}


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    failures: list[str] = []
    groups: dict[tuple[str, str], list[tuple[str, FeedbackRecord]]] = defaultdict(list)
    for message in event["Records"]:
        message_id = message["messageId"]
        parsed = parse_message(message)
        if isinstance(parsed, str):
            ctx.logger.warning(
                "not a feedback record, left for the dead-letter queue",
                extra={"message_id": message_id, "problem": parsed},
            )
            failures.append(message_id)
            continue
        hour, record = parsed
        groups[(record.model_type, hour)].append((message_id, record))
    files = []
    for (model_type, hour), members in sorted(groups.items()):
        try:
            result = ctx.lake.put_feedback_file(model_type, hour, [r for _, r in members])
        except Exception:
            # Delivered again (and to the dead-letter queue if it keeps failing); the other
            # groups are written.
            ctx.logger.exception(
                "feedback file not written", extra={"model_type": model_type, "hour": hour}
            )
            failures.extend(message_id for message_id, _ in members)
            continue
        files.append({"key": result.key, "records": len(members), "written": result.written})
    ctx.count("FeedbackFilesWritten", sum(1 for f in files if f["written"]))
    ctx.count("FeedbackMessagesFailed", len(failures))
    ctx.logger.info(
        "feedback batch written",
        extra={"messages": len(event["Records"]), "files": files, "failed": len(failures)},
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


def parse_message(message: dict[str, Any]) -> tuple[str, FeedbackRecord] | str:
    """``(partition hour, record)`` of one SQS message, or what is wrong with it (no text)."""
    body = message.get("body")
    if not isinstance(body, str):
        return "no body"
    value, errors = loads(body)
    if not errors:
        errors = validate_record(value)
    if errors:
        # Field names only: a schema message may quote the value (the text).
        return "invalid: " + ", ".join(sorted({e.field for e in errors}))[:200]
    sent = (message.get("attributes") or {}).get("SentTimestamp")
    try:
        moment = datetime.fromtimestamp(int(sent) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return "no SentTimestamp attribute"
    return layout.feedback_hour(format_timestamp(moment)), FeedbackRecord.from_dict(value)

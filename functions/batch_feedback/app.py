"""Batch explicit feedback: a file dropped under uploads/feedback/ in the data lake.

Triggered by S3 events. The file is streamed, never read whole; every accepted line becomes a
feedback record and every rejected one is listed with its line number in an errors object
beside the upload (uploads/errors/...). Output keys derive from the upload's bucket, key and
version, and writes are conditional, so a re-delivered event changes nothing.
"""

import os
from datetime import UTC, datetime
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from aws_lambda_powertools.utilities.validation import validator
from textloop import batch
from textloop.adapters.feedback_writer import S3FeedbackWriter
from textloop.names import ModelType

logger = Logger()
tracer = Tracer()
metrics = Metrics()

CLASSIFIER_MODE = os.environ.get("CLASSIFIER_MODE", "MULTI_CLASS")
UPLOAD_LAYOUT = "uploads/feedback/<DOCUMENT_CLASSIFIER|ENTITY_RECOGNIZER>/<application_id>/<file>"

# The shape of the S3 notification this function is subscribed to (not of the file).
S3_EVENT_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["Records"],
    "properties": {
        "Records": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["s3", "eventTime"],
                "properties": {
                    "s3": {
                        "type": "object",
                        "required": ["bucket", "object"],
                        "properties": {
                            "bucket": {"type": "object", "required": ["name"]},
                            "object": {"type": "object", "required": ["key"]},
                        },
                    }
                },
            },
        }
    },
}

_s3 = boto3.client("s3")


@tracer.capture_method
def process_upload(bucket: str, key: str, event_time: datetime, etag: str | None, version_id):
    writer = S3FeedbackWriter(_s3, bucket)
    target = batch.upload_target(key)
    if target is None:
        # Never a silent drop: the uploader finds why beside the file.
        summary = {
            "errors_object_version": batch.ERRORS_OBJECT_VERSION,
            "bucket": bucket,
            "key": key,
            "status": "failed",
            "items_total": 0,
            "accepted": 0,
            "rejected": 0,
            "file_errors": [
                {
                    "errors": [{"field": "key", "message": f"uploads must follow {UPLOAD_LAYOUT}"}],
                    "fatal": True,
                }
            ],
            "errors": [],
            "errors_truncated": False,
            "feedback_keys": [],
        }
        writer.put_json(batch.errors_key(key), summary)
        return summary
    model_type, application_id = target
    context = batch.BatchContext(
        bucket=bucket,
        key=key,
        model_type=model_type,
        mode=CLASSIFIER_MODE if model_type == ModelType.DOCUMENT_CLASSIFIER else None,
        submitter={"application_id": application_id},
        observed_at=event_time,
        created_at=datetime.now(UTC),
        etag=etag,
        version_id=version_id,
    )
    get = {"Bucket": bucket, "Key": key}
    if version_id:
        get["VersionId"] = version_id
    body = _s3.get_object(**get)["Body"]
    try:
        summary = batch.process_batch(body, context, writer.put_bytes)
    finally:
        body.close()
    writer.put_json(batch.errors_key(key), summary)
    return summary


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@validator(inbound_schema=S3_EVENT_SCHEMA)
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict:
    results = []
    for record in event.records:
        key = unquote_plus(record.s3.get_object.key)
        if not batch.is_batch_upload(key):
            logger.info("not a batch upload, ignored", extra={"key": key})
            continue
        logger.append_keys(upload_key=key)
        event_time = datetime.fromisoformat(record.event_time.replace("Z", "+00:00"))
        summary = process_upload(
            record.s3.bucket.name,
            key,
            event_time,
            record.s3.get_object.etag or None,
            record.s3.get_object.version_id or None,
        )
        metrics.add_metric(
            name="BatchLinesAccepted", unit=MetricUnit.Count, value=summary.get("accepted", 0)
        )
        metrics.add_metric(
            name="BatchLinesRejected", unit=MetricUnit.Count, value=summary.get("rejected", 0)
        )
        logger.info(
            "batch upload processed",
            extra={"accepted": summary.get("accepted"), "rejected": summary.get("rejected")},
        )
        results.append({"key": key, "errors_key": batch.errors_key(key), **_counts(summary)})
    return {"uploads": results}


def _counts(summary: dict) -> dict:
    return {name: summary.get(name, 0) for name in ("accepted", "rejected")}

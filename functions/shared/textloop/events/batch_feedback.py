"""Batch explicit feedback: a file dropped under ``uploads/feedback/`` in the data lake.

Triggered by S3 events. The file is streamed, never read whole (``feedback_files``); every
accepted line becomes a feedback record, written in chunks straight into the lake's partitions
(``batch-<upload digest>-<part>.jsonl.gz`` files in the hour of the S3 event, beside the
intake queue's files), and every rejected one is listed with its line number in
an errors object beside the upload (``layout.upload_errors_key``). Output keys derive from the
upload's bucket, key and version, and writes are conditional, so a re-delivered event changes
nothing. A key outside ``layout.FEEDBACK_UPLOAD_LAYOUT`` (an application id with ``..`` or a
space is outside it) or under an application the deployment does not know is not dropped
silently either: nothing of it is read, and its errors object says why.

The application in the key is the submitter of every line (a line naming another one is
rejected); each application's upload role may write only under its own prefixes (Terraform).
Its trust goes on every record: an untrusted application's corrections are reviewed before
they reach the annotation pool.

Corrections are checked against the active model's label set (``adapters.model_catalog``); a
line naming another label is rejected by line number, the others go on. Entity recognisers also
take SageMaker Ground Truth NER output manifests (``<file>.manifest``): each line is a
correction with the line's spans (``feedback_files``).

Environment: DATA_LAKE_BUCKET, CLASSIFIER_MODE (the mode lines are checked against),
CLIENT_APPLICATIONS, ACTIVE_MODEL_PARAMETER_PREFIX, REGISTRY_TABLE.
AWS: s3:GetObject (uploads/*, models/*), s3:PutObject (feedback/*, uploads/errors/*),
ssm:GetParameter (the pointer), dynamodb:Query (registry history).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event

from textloop.adapters.lake import DataLake
from textloop.adapters.stack import Stack
from textloop.domain import feedback_files, layout
from textloop.domain.names import ModelType

# The shape of the S3 notification this function is subscribed to (not of the file).
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


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    results = []
    for record in S3Event(event).records:
        key = unquote_plus(record.s3.get_object.key)
        if not feedback_files.is_batch_upload(key):
            ctx.logger.info("not a batch upload, ignored", extra={"key": key})
            continue
        ctx.logger.append_keys(upload_key=key)
        summary = process_upload(
            ctx,
            record.s3.bucket.name,
            key,
            datetime.fromisoformat(record.event_time.replace("Z", "+00:00")),
            record.s3.get_object.etag or None,
            record.s3.get_object.version_id or None,
        )
        ctx.count("BatchLinesAccepted", summary.get("accepted", 0))
        ctx.count("BatchLinesRejected", summary.get("rejected", 0))
        counts = {name: summary.get(name, 0) for name in ("accepted", "rejected")}
        ctx.logger.info("batch upload processed", extra=counts)
        results.append({"key": key, "errors_key": layout.upload_errors_key(key), **counts})
    return {"uploads": results}


def process_upload(
    ctx: Stack,
    bucket: str,
    key: str,
    event_time: datetime,
    etag: str | None,
    version_id: str | None,
) -> dict[str, Any]:
    """Parse one upload into feedback chunks; returns (and stores) its errors object."""
    s3 = ctx.clients.get("s3")
    lake = DataLake(s3, bucket)
    target = layout.feedback_upload_target(key)
    if target is None:
        summary = feedback_files.misplaced_upload_summary(bucket, key)
        lake.put_json(layout.upload_errors_key(key), summary)
        return summary
    model_type, application_id = target
    uploader = ctx.applications.by_id(application_id)
    if uploader is None:
        summary = feedback_files.misplaced_upload_summary(
            bucket,
            key,
            f"{application_id!r} is not a client application of this deployment; upload under "
            "your own application's prefix",
        )
        lake.put_json(layout.upload_errors_key(key), summary)
        return summary
    context = feedback_files.BatchContext(
        bucket=bucket,
        key=key,
        model_type=model_type,
        mode=(
            ctx.setting("CLASSIFIER_MODE", "MULTI_CLASS")
            if model_type == ModelType.DOCUMENT_CLASSIFIER
            else None
        ),
        submitter={"application_id": application_id},
        observed_at=event_time,
        created_at=datetime.now(UTC),
        etag=etag,
        version_id=version_id,
        trusted=uploader.trusted,
        # Read once per file: corrections must name labels the active model knows.
        known_labels=ctx.models.facts(model_type).labels,
    )
    get = {"Bucket": bucket, "Key": key}
    if version_id:
        get["VersionId"] = version_id
    body = s3.get_object(**get)["Body"]
    try:
        summary = feedback_files.process_batch(body, context, write_chunk(lake))
    finally:
        body.close()
    lake.put_json(layout.upload_errors_key(key), summary)
    return summary


def write_chunk(lake: DataLake):
    """``process_batch``'s writer: each chunk once (a re-delivered event finds its chunks)."""

    def write(key: str, body: bytes) -> bool:
        return lake.put_bytes(key, body, "application/x-ndjson", once=True)

    return write

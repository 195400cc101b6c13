"""Data for iteration tests: AG News seed data and feedback records in the data lake."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime

import boto3
from textloop.adapters.feedback_writer import S3FeedbackWriter
from textloop.domain.feedback import FeedbackRecord, build_batch_record

OBSERVED = datetime(2025, 11, 23, 2, 27, 3, tzinfo=UTC)


def seed_csv(rows: Sequence[tuple[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for label, text in rows:
        writer.writerow([label, text])
    return out.getvalue()


def put_seed(bucket: str, rows: Sequence[tuple[str, str]]) -> None:
    boto3.client("s3").put_object(
        Bucket=bucket,
        Key="datasets/seed/DOCUMENT_CLASSIFIER/train.csv",
        Body=seed_csv(rows).encode(),
    )


def record(
    text: str, corrected: str | None = None, user: str = "user-1", *, trusted: bool = False
) -> FeedbackRecord:
    return build_batch_record(
        text=text,
        corrected_labels=[corrected] if corrected else None,
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        submitter={"user_id": user},
        origin={"upload_key": "uploads/feedback/test.jsonl"},
        observed_at=OBSERVED,
        created_at=OBSERVED,
        trusted=trusted,
    )


def put_feedback(
    bucket: str,
    review_texts: Sequence[str] = (),
    corrections: Sequence[tuple[str, str]] = (),
    *,
    chunked: int = 0,
    trusted: bool = True,
) -> list[FeedbackRecord]:
    """Records for review (the first ``chunked`` of them in one batch-*.jsonl chunk, the rest as
    single objects) and explicit corrections (single objects), from a ``trusted`` source unless
    told otherwise (trusted corrections skip review)."""
    records = [record(t) for t in review_texts] + [
        record(t, label, trusted=trusted) for label, t in corrections
    ]
    writer = S3FeedbackWriter(boto3.client("s3"), bucket)
    if chunked:
        # Where a batch feedback file's chunk lands (layout.feedback_chunk_key).
        key = (
            "feedback/model_version=__HIVE_DEFAULT_PARTITION__/dt=2025-11-23/batch-test-00000.jsonl"
        )
        writer.put_bytes(key, b"".join(r.to_json() for r in records[:chunked]))
    for r in records[chunked:]:
        writer.write(r)
    return records

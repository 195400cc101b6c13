"""Data for iteration tests: AG News seed data and feedback records in the data lake."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime

import boto3
from textloop.adapters.lake import DataLake
from textloop.domain import layout
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
    """Records for review (the first ``chunked`` of them in one file of the lake, the rest one
    file each, as the intake queue's consumer writes them) and explicit corrections (one file
    each), from a ``trusted`` source unless told otherwise (trusted corrections skip review)."""
    records = [record(t) for t in review_texts] + [
        record(t, label, trusted=trusted) for label, t in corrections
    ]
    lake = DataLake(boto3.client("s3"), bucket)
    hour = layout.feedback_hour(records[0].observed_at) if records else ""
    if chunked:
        lake.put_feedback_file("DOCUMENT_CLASSIFIER", hour, records[:chunked])
    for r in records[chunked:]:
        lake.put_feedback_file("DOCUMENT_CLASSIFIER", hour, [r])
    return records

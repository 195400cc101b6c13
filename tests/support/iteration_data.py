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
from textloop.domain.timestamps import format_timestamp

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


def put_feedback_file(
    bucket: str,
    records: Sequence[FeedbackRecord],
    *,
    hour: str | None = None,
    model_type: str = "DOCUMENT_CLASSIFIER",
) -> str:
    """One feedback file written as the intake queue's consumer writes it
    (``DataLake.put_feedback_file``); ``hour``: its partition hour, by default the current one
    (a batch lands in the hour it was sent, whatever its records' ``observed_at``)."""
    hour = hour or layout.feedback_hour(format_timestamp(datetime.now(UTC)))
    return DataLake(boto3.client("s3"), bucket).put_feedback_file(model_type, hour, records).key


def put_feedback(
    bucket: str,
    review_texts: Sequence[str] = (),
    corrections: Sequence[tuple[str, str]] = (),
    *,
    chunked: int = 0,
    trusted: bool = True,
) -> list[FeedbackRecord]:
    """Records for review and explicit corrections (from a ``trusted`` source unless told
    otherwise: trusted corrections skip review), in feedback files of the current hour as the
    buffered intake writes them: the first ``chunked`` records in one file, each other record
    in its own file (many small batches)."""
    records = [record(t) for t in review_texts] + [
        record(t, label, trusted=trusted) for label, t in corrections
    ]
    groups = ([records[:chunked]] if chunked else []) + [[r] for r in records[chunked:]]
    for group in groups:
        put_feedback_file(bucket, group)
    return records

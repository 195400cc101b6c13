"""Feedback writers: idempotent S3 puts and Firehose DirectPut — with moto."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from textloop.adapters.feedback_writer import FirehoseFeedbackWriter, S3FeedbackWriter

from .test_feedback_records import build_api

BUCKET = "textloop-unit-lake"


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.mark.parametrize("conditional", ["if-none-match", "head"])
def test_writing_the_same_record_twice_is_a_no_op(s3, now, conditional):
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    writer = S3FeedbackWriter(s3, BUCKET, conditional=conditional)
    record = build_api(now)
    first = writer.write(record)
    assert first.written and first.key == record.key
    stored = s3.get_object(Bucket=BUCKET, Key=first.key)
    assert stored["Body"].read() == record.to_json()
    assert stored["ContentType"] == "application/json"
    # A retry rebuilds the record later: new created_at, same id, same key, nothing written.
    retry = build_api(now + timedelta(seconds=3))
    assert retry.created_at != record.created_at
    second = writer.write(retry)
    assert (second.key, second.written) == (first.key, False)
    assert s3.get_object(Bucket=BUCKET, Key=first.key)["Body"].read() == (record.to_json())
    versions = s3.list_object_versions(Bucket=BUCKET).get("Versions", [])
    assert len(versions) == 1


def test_put_json_overwrites(s3):
    writer = S3FeedbackWriter(s3, BUCKET)
    writer.put_json("uploads/errors/f.jsonl.errors.json", {"accepted": 1})
    writer.put_json("uploads/errors/f.jsonl.errors.json", {"accepted": 2})
    body = s3.get_object(Bucket=BUCKET, Key="uploads/errors/f.jsonl.errors.json")["Body"].read()
    assert json.loads(body) == {"accepted": 2}


def test_firehose_writer_sends_json_lines(s3, now):
    firehose = boto3.client("firehose", region_name="us-east-1")
    firehose.create_delivery_stream(
        DeliveryStreamName="feedback",
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": "feedback/firehose/",
        },
    )
    writer = FirehoseFeedbackWriter(firehose, "feedback")
    records = [build_api(now, submitter={"user_id": f"user-{i}"}) for i in range(3)]
    writer.write(records[0])
    assert writer.write_many(records[1:]) == 2
    lines = []
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix="feedback/firehose/")["Contents"]:
        lines += s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(r.id for r in records)


def test_firehose_batches_respect_the_api_limits(now):
    calls: list[int] = []

    class CountingFirehose:
        def put_record_batch(self, DeliveryStreamName, Records):
            calls.append(len(Records))
            return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "x"}] * len(Records)}

    record = build_api(now)
    writer = FirehoseFeedbackWriter(CountingFirehose(), "feedback")
    assert writer.write_many([record] * 1_201) == 1_201
    assert calls == [500, 500, 201]


def test_firehose_resends_only_the_failed_entries(now):
    sent: list[list[bytes]] = []

    class FlakyFirehose:
        def put_record_batch(self, DeliveryStreamName, Records):
            sent.append([r["Data"] for r in Records])
            if len(sent) == 1:
                return {
                    "FailedPutCount": 1,
                    "RequestResponses": [
                        {"RecordId": "a"},
                        {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "busy"},
                        {"RecordId": "c"},
                    ],
                }
            return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "b"}]}

    records = [build_api(now, submitter={"user_id": f"user-{i}"}) for i in range(3)]
    assert FirehoseFeedbackWriter(FlakyFirehose(), "feedback").write_many(records) == 3
    assert sent[1] == [records[1].to_json()]

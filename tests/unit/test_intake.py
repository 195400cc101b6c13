"""The buffered intake: producers send records to SQS, the consumer writes partitioned files
(moto SQS and S3; the consumer runs in-process through its Lambda handler)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from textloop.adapters.feedback_queue import FeedbackQueue, message_body
from textloop.adapters.lake import DataLake
from textloop.domain import layout
from textloop.domain.feedback import FeedbackRecord, build_batch_record

from tests.support.events import sqs_event
from tests.support.stack import create_bucket, deploy_function, drain_feedback_queue

from .test_feedback_records import build_api

BUCKET = "textloop-intake-lake"
CONSUMER = "textloop-write-feedback"


def batch_record(text: str, model_type: str = "DOCUMENT_CLASSIFIER") -> FeedbackRecord:
    moment = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    return build_batch_record(
        text=text,
        corrected_labels=None,
        model_type=model_type,
        mode="MULTI_CLASS" if model_type == "DOCUMENT_CLASSIFIER" else None,
        submitter={"application_id": "app"},
        origin={
            "bucket": BUCKET,
            "key": "uploads/feedback/DOCUMENT_CLASSIFIER/app/t.jsonl",
            "line": 1,
        },
        observed_at=moment,
        created_at=moment,
        trusted=False,
    )


def millis(text: str) -> str:
    return str(int(datetime.fromisoformat(text).timestamp() * 1000))


def message(n: int, body: str | FeedbackRecord, sent: str = "2026-11-23T10:59:59+00:00") -> dict:
    """One message as ReceiveMessage answers it."""
    text = message_body(body) if isinstance(body, FeedbackRecord) else body
    return {
        "MessageId": f"m-{n}",
        "ReceiptHandle": f"h-{n}",
        "Body": text,
        "MD5OfBody": "0" * 32,
        "Attributes": {"SentTimestamp": millis(sent), "ApproximateReceiveCount": "1"},
    }


@pytest.fixture
def queue(aws):
    return boto3.client("sqs").create_queue(QueueName="textloop-test-feedback")["QueueUrl"]


@pytest.fixture
def lake(aws):
    create_bucket(BUCKET)
    s3 = boto3.client("s3")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return DataLake(s3, BUCKET)


@pytest.fixture
def consumer(lambdas, lake):
    deploy_function(lambdas, CONSUMER, "write_feedback", {"DATA_LAKE_BUCKET": BUCKET})
    return CONSUMER


def invoke(event: dict) -> dict:
    out = boto3.client("lambda").invoke(FunctionName=CONSUMER, Payload=json.dumps(event))
    answer = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, answer
    return answer


def versions(prefix: str = "feedback/") -> list[dict]:
    listed = boto3.client("s3").list_object_versions(Bucket=BUCKET, Prefix=prefix)
    return listed.get("Versions", [])


# --------------------------------------------------------------------------- producers


def test_a_record_is_one_message_and_a_retry_on_this_instance_is_not_sent_again(queue, now):
    record = build_api(now)
    sender = FeedbackQueue(boto3.client("sqs"), queue)
    assert (sender.send(record).queued, sender.send(record).queued) == (True, False)
    messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    [sent] = messages["Messages"]
    assert sent["Body"].encode() == record.to_json()
    # Another instance does not know it: it queues the record again (one record to readers).
    assert FeedbackQueue(boto3.client("sqs"), queue).send(record).queued is True


def test_the_memory_of_queued_ids_is_bounded(queue, now):
    sender = FeedbackQueue(boto3.client("sqs"), queue, remember=2)
    records = [build_api(now, text=f"text number {i}") for i in range(3)]
    assert all(sender.send(r).queued for r in records)
    assert sender.send(records[0]).queued is True  # forgotten: sent again
    assert sender.send(records[2]).queued is False


def test_a_failed_send_raises_and_is_not_remembered(aws, now):
    record = build_api(now)
    missing = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
    sender = FeedbackQueue(boto3.client("sqs"), missing)
    with pytest.raises(ClientError):
        sender.send(record)
    with pytest.raises(ClientError):
        sender.send(record)


def test_a_text_sqs_refuses_goes_json_escaped_and_parses_to_the_same_record(now):
    record = build_api(now, text="tab\tand a noncharacter \ufffe in the text")
    body = message_body(record)
    assert "\ufffe" not in body and "\\ufffe" in body
    assert FeedbackRecord.from_json(body) == record
    assert (
        message_body(build_api(now, text="café")) == build_api(now, text="café").to_json().decode()
    )


# --------------------------------------------------------------------------- the lake's files


def test_a_file_is_named_by_its_sorted_records_and_written_once(lake):
    records = [batch_record(f"story {i}") for i in range(3)]
    first = lake.put_feedback_file("DOCUMENT_CLASSIFIER", "2026-11-23T10", records)
    again = lake.put_feedback_file("DOCUMENT_CLASSIFIER", "2026-11-23T10", records[::-1] + records)
    assert first.written and not again.written and again.key == first.key
    assert layout.feedback_file_partition(first.key) == ("DOCUMENT_CLASSIFIER", "2026-11-23T10")
    assert len(versions()) == 1
    body = gzip.decompress(lake.get_bytes(first.key))
    assert [json.loads(line)["id"] for line in body.splitlines()] == sorted(r.id for r in records)
    assert list(lake.read_feedback_files([first.key])) == sorted(records, key=lambda r: r.id)
    with pytest.raises(ValueError, match="ENTITY_RECOGNIZER"):
        lake.put_feedback_file(
            "DOCUMENT_CLASSIFIER", "2026-11-23T10", [batch_record("x", "ENTITY_RECOGNIZER")]
        )


def test_the_full_scan_reads_files_beside_the_objects_of_the_old_layout(lake):
    old = batch_record("stored alone before the buffer")
    old_key = layout.feedback_record_key(old.id, old.model_version, old.observed_at)
    lake.put_bytes(old_key, old.to_json(), "application/json")
    new = [batch_record("in a file"), batch_record("in a file too")]
    lake.put_feedback_file("DOCUMENT_CLASSIFIER", "2026-11-23T10", new)
    assert lake.feedback_records() == sorted([old, *new], key=lambda r: r.id)


# --------------------------------------------------------------------------- the consumer


def test_queued_records_arrive_as_one_file_in_their_partition(queue, consumer, now):
    sender = FeedbackQueue(boto3.client("sqs"), queue)
    records = [build_api(now, text=f"the match number {i} was great") for i in range(3)]
    before = datetime.now(UTC)
    for record in records:
        sender.send(record)
    after = datetime.now(UTC)
    [answer] = drain_feedback_queue(CONSUMER, queue)
    assert answer == {"batchItemFailures": []}
    [obj] = versions()
    model_type, hour = layout.feedback_file_partition(obj["Key"])
    assert model_type == "DOCUMENT_CLASSIFIER"
    # The hour the messages were sent (now, by moto's clock), not the records' observed_at.
    assert hour in {before.strftime("%Y-%m-%dT%H"), after.strftime("%Y-%m-%dT%H")}
    stored = list(DataLake(boto3.client("s3"), BUCKET).read_feedback_files([obj["Key"]]))
    assert stored == sorted(records, key=lambda r: r.id)
    assert boto3.client("sqs").receive_message(QueueUrl=queue).get("Messages") is None


def test_a_redelivered_batch_changes_nothing(consumer):
    records = [batch_record(f"story {i}") for i in range(4)]
    event = sqs_event(
        [message(i, r) for i, r in enumerate(records)], "arn:aws:sqs:us-east-1:123456789012:q"
    )
    assert invoke(event) == {"batchItemFailures": []}
    before = versions()
    # Delivered again, and in another order.
    event["Records"].reverse()
    assert invoke(event) == {"batchItemFailures": []}
    assert versions() == before and len(before) == 1


def test_a_malformed_message_is_a_batch_item_failure_and_only_its_id_is_logged(
    consumer, capsys, caplog
):
    good = batch_record("a good record")
    forged = {**good.to_dict(), "text": "secret text with a forged id"}
    event = sqs_event(
        [
            message(1, good),
            message(2, "not json: secret text of a broken message"),
            message(3, json.dumps(forged)),
            message(4, json.dumps({"text": "secret text, nothing else"})),
        ],
        "arn:aws:sqs:us-east-1:123456789012:q",
    )
    answer = invoke(event)
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"m-{n}"} for n in (2, 3, 4)]}
    [obj] = versions()
    assert list(DataLake(boto3.client("s3"), BUCKET).read_feedback_files([obj["Key"]])) == [good]
    logged = [r.__dict__ for r in caplog.records]
    assert [r["message_id"] for r in logged if "message_id" in r] == ["m-2", "m-3", "m-4"]
    assert "secret text" not in repr(logged) + capsys.readouterr().out


def test_model_types_and_hours_split_into_files(consumer):
    a, b, c = (batch_record(f"story {i}") for i in range(3))
    ner = batch_record("AWS Lambda is out", "ENTITY_RECOGNIZER")
    event = sqs_event(
        [
            message(1, a, sent="2026-11-23T10:00:01+00:00"),
            message(2, b, sent="2026-11-23T10:59:59+00:00"),
            message(3, c, sent="2026-11-23T11:00:00+00:00"),
            message(4, ner, sent="2026-11-23T10:30:00+00:00"),
        ],
        "arn:aws:sqs:us-east-1:123456789012:q",
    )
    assert invoke(event) == {"batchItemFailures": []}
    lake = DataLake(boto3.client("s3"), BUCKET)
    files = {layout.feedback_file_partition(v["Key"]): v["Key"] for v in versions()}
    assert set(files) == {
        ("DOCUMENT_CLASSIFIER", "2026-11-23T10"),
        ("DOCUMENT_CLASSIFIER", "2026-11-23T11"),
        ("ENTITY_RECOGNIZER", "2026-11-23T10"),
    }
    assert {
        r.id for r in lake.read_feedback_files([files[("DOCUMENT_CLASSIFIER", "2026-11-23T10")]])
    } == {a.id, b.id}
    assert list(lake.read_feedback_files([files[("DOCUMENT_CLASSIFIER", "2026-11-23T11")]])) == [c]
    assert list(lake.read_feedback_files([files[("ENTITY_RECOGNIZER", "2026-11-23T10")]])) == [ner]


def test_a_group_that_cannot_be_written_comes_back_whole(lambdas, aws):
    deploy_function(lambdas, CONSUMER, "write_feedback", {"DATA_LAKE_BUCKET": "no-such-bucket"})
    event = sqs_event(
        [message(1, batch_record("x")), message(2, batch_record("y"))],
        "arn:aws:sqs:us-east-1:123456789012:q",
    )
    assert invoke(event) == {
        "batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]
    }


def test_a_message_without_its_sent_timestamp_is_a_failure(consumer):
    record = message(1, batch_record("x"))
    record["Attributes"] = {}
    answer = invoke(sqs_event([record], "arn:aws:sqs:us-east-1:123456789012:q"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert versions() == []

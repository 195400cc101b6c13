"""The data lake adapter's feedback scan (S3 through moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from textloop.adapters import lake as lake_module
from textloop.adapters.lake import READ_CONCURRENCY, DataLake
from textloop.domain.feedback import FeedbackRecord

BUCKET = "textloop-unit-lake"


@pytest.fixture
def lake(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return DataLake(client, BUCKET)


def record(n: int) -> dict:
    return {
        "schema_version": 1,
        "id": f"{n:064x}",
        "source": "explicit-batch",
        "reason": "review_requested",
        "text": f"text {n}",
        "model_type": "DOCUMENT_CLASSIFIER",
        "mode": "MULTI_CLASS",
        "created_at": "2026-11-23T00:00:00.000Z",
        "observed_at": "2026-11-23T00:00:00.000Z",
        "submitter": {"application_id": "app"},
    }


def test_feedback_scan_reads_every_object_once_in_id_order(lake):
    # More single-record objects than concurrent reads, a batch chunk repeating some of them,
    # and objects the scan must skip.
    singles = [record(n) for n in range(3 * READ_CONCURRENCY + 1)]
    for r in singles:
        key = f"feedback/model_version=m1/dt=2026-11-23/{r['id']}.json"
        # As the writer does.
        lake.put_bytes(key, FeedbackRecord.from_dict(r).to_json(), "application/json")
    chunk = [record(n) for n in range(3 * READ_CONCURRENCY - 2, 3 * READ_CONCURRENCY + 5)]
    lake.put_text(
        "feedback/model_version=m1/dt=2026-11-23/batch-0001.jsonl",
        "".join(json.dumps(r) + "\n" for r in chunk) + "\n",
        "application/x-ndjson",
    )
    lake.put_text("feedback/model_version=m1/dt=2026-11-23/notes.txt", "not a record", "text/plain")
    lake.put_text("reviews/elsewhere.json", json.dumps(record(999)), "application/json")

    records = lake.feedback_records()

    expected = {r["id"]: r for r in singles + chunk}
    assert [r.id for r in records] == sorted(expected)
    assert [r.to_dict() for r in records] == [expected[k] for k in sorted(expected)]


def test_get_many_keeps_the_keys_order_and_reports_missing_objects(lake, monkeypatch):
    # A window smaller than the keys: the order must hold across windows too.
    monkeypatch.setattr(lake_module, "READ_WINDOW", 7)
    keys = [f"k/{n:03d}" for n in range(25)]
    for k in keys[::2]:
        lake.put_text(k, k, "text/plain")
    got = list(lake.get_many(keys))
    assert got == [k.encode() if i % 2 == 0 else None for i, k in enumerate(keys)]
    assert list(lake.get_many([])) == []
    assert list(lake.get_many([keys[0]])) == [keys[0].encode()]


def test_records_stored_for_an_iteration_read_back_the_same(lake):
    records = [FeedbackRecord.from_dict(record(n)) for n in range(5)]
    key = "reviews/it-1/new-feedback.jsonl.gz"
    lake.put_records(key, records)
    assert lake.get_records(key) == records
    assert lake.get_records("reviews/it-2/new-feedback.jsonl.gz") is None
    lake.put_records(key, [])
    assert lake.get_records(key) == []


def test_an_object_that_is_not_a_record_is_named_not_skipped(lake):
    lake.put_bytes(
        "feedback/model_version=m1/dt=2026-11-23/a.json",
        FeedbackRecord.from_dict(record(1)).to_json(),
        "application/json",
    )
    lake.put_text(
        "feedback/model_version=m1/dt=2026-11-23/b.jsonl", '{"id": "x"}\n', "application/x-ndjson"
    )
    with pytest.raises(ValueError, match=r"dt=2026-11-23/b.jsonl line 1 is not a feedback record"):
        lake.feedback_records()
    lake.put_text(
        "feedback/model_version=m1/dt=2026-11-23/b.jsonl", "not json\n", "application/x-ndjson"
    )
    with pytest.raises(ValueError, match=r"b.jsonl line 1 is not a feedback record"):
        lake.feedback_records()

"""Incremental iterations on LocalStack: feedback arrives in two batches, and the iteration after
the second reads only the new files of the hours since the first one's watermark.

Each batch arrives as a client sends it: ``POST /feedback`` requests, through the intake queue,
written by its consumer (write_feedback) into the hour's partition as gzipped JSON Lines files
named by content. The S3 reads are counted by Prepare
itself: ``inputs.intake`` of each audit record (and ``$.iteration.intake``, and the Lambda's
``FeedbackPrefixesListed``/``FeedbackFilesRead`` metrics) says how many hour prefixes it listed,
how many files it found there and how many it read.

Both iterations run with ``review_budget`` 0: nothing waits on a reviewer, and each decides
(the decision commits the watermark and the carry-over, domain/intake.py).
"""

from __future__ import annotations

import csv
import json
import uuid

import pytest
from textloop.domain import layout

from tests.support import DATA
from tests.support.client_api import bootstrap_classifier, wait_for_feedback, wait_for_iteration

MT = "DOCUMENT_CLASSIFIER"
CONFIG = {"min_new_items": 1, "review_budget": 0}


@pytest.fixture(scope="module")
def active(stack, api, aws_client):
    """The classifier the other modules promoted, or a bootstrap one when run alone."""
    response = api("GET", f"/models/active?model_type={MT}")
    if response.status_code == 200:
        return response.json()
    with (DATA / "ag_news" / "train.csv").open(encoding="utf-8", newline="") as handle:
        rows = [(row[0], row[1]) for row in csv.reader(handle)][:400]
    return bootstrap_classifier(stack, api, aws_client, rows)


def send_batch(api, aws_client, bucket: str, pointer: dict, texts: list[str]) -> list[str]:
    """``texts`` as dislikes with a correction, through the API and the intake queue; the keys
    of the files the queue's consumer wrote them to."""
    ids = []
    for text in texts:
        body = {
            "text": text,
            "model_type": MT,
            "mode": "MULTI_CLASS",
            "model_version": pointer["model_version"],
            "prediction": {
                "labels": [{"label": "World", "score": 0.5}, {"label": "Business", "score": 0.5}],
                "routed_to_review": False,
            },
            "reason": "dislike",
            "corrected_labels": ["Business"],
            "submitter": {"user_id": "analyst-1"},
        }
        ids.append(api("POST", "/feedback", body, expect=202).json()["feedback_id"])
    _, files = wait_for_feedback(aws_client, bucket, ids)
    return files


def iterate(api, aws_client, bucket: str) -> dict:
    """One decided iteration; its audit record's ``inputs.intake``."""
    started = api("POST", "/iterations", {"model_type": MT, "config": CONFIG}, expect=202).json()
    result = wait_for_iteration(api, started["iteration_id"])
    assert result["status"] == "SUCCEEDED", json.dumps(result, indent=1, default=str)
    body = aws_client("s3").get_object(
        Bucket=bucket, Key=layout.audit_key(started["iteration_id"])
    )["Body"]
    audit = json.loads(body.read())
    assert audit["status"] in ("PROMOTED", "REJECTED", "REFUSED"), audit["status"]
    return audit["inputs"]["intake"]


def test_the_iteration_after_a_second_batch_reads_only_the_new_files(
    stack, api, aws_client, active
):
    bucket = stack["data_lake_bucket"]
    pointer = active.get("pointer", active)
    run = uuid.uuid4().hex[:8]

    first = send_batch(
        api, aws_client, bucket, pointer, [f"incremental {run} first {m}" for m in range(6)]
    )
    one = iterate(api, aws_client, bucket)
    assert one["committed"] is True
    assert one["files_read"] >= len(first)
    watermark = json.loads(
        aws_client("s3").get_object(Bucket=bucket, Key=layout.watermark_key(MT))["Body"].read()
    )
    assert set(first) <= set(watermark["read"])

    second = send_batch(
        api, aws_client, bucket, pointer, [f"incremental {run} second {m}" for m in range(2)]
    )
    two = iterate(api, aws_client, bucket)
    # Only the hours from the first iteration's watermark (minus the lateness) to now are
    # listed, and of the files there, only the new ones are read: the first batch is found in
    # the listing and skipped.
    lateness = two["lateness_hours"]
    assert two["watermark_hour"] == one["start_hour"] == watermark["hour"]
    assert two["first_hour_listed"] == layout.hour_shifted(one["start_hour"], -lateness)
    listed, hour = 0, two["first_hour_listed"]
    while hour <= two["start_hour"]:
        listed, hour = listed + 1, layout.hour_shifted(hour, 1)
    assert two["prefixes_listed"] == listed
    assert two["files_read"] == len(second), two
    assert two["files_listed"] >= len(first) + len(second)
    assert two.get("legacy_records") == 0
    after = json.loads(
        aws_client("s3").get_object(Bucket=bucket, Key=layout.watermark_key(MT))["Body"].read()
    )
    assert set(second) <= set(after["read"])

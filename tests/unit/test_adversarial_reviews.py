"""The review API under hostile input (issue 11): bodies answered 400 naming the field, batch
ids that are not ids answered 404, never a 5xx, nothing stored."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from textloop.adapters.lake import DataLake
from textloop.adapters.reviews_store import ReviewStore
from textloop.domain import reviews

from tests.support.hostile import (
    DEEP,
    VERY_DEEP,
    call,
    fields,
    nested,
    people_env,
    with_raw,
    with_repeated_key,
)
from tests.support.stack import _role, create_bucket, deploy_function

BUCKET = "textloop-test-reviews"
NAME = "textloop-reviews"
ITERATION = "it-hostile"
BATCH = "it-hostile-0000-0123456789ab"


@pytest.fixture
def review_api(lambdas):
    create_bucket(BUCKET)
    now = datetime.now(UTC)
    task = reviews.build_task(
        batch={
            "batch_id": BATCH,
            "items": [
                {"id": "item-1", "text": "Stocks rally on rate cut"},
                {"id": "item-2", "text": "The striker scored twice"},
            ],
        },
        iteration_id=ITERATION,
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        options=["Business", "Sports", "World"],
        task_token="token-of-the-iteration",
        created_at=now,
        deadline=now + timedelta(hours=1),
        review_backend="local",
    )
    ReviewStore(DataLake(boto3.client("s3"), BUCKET)).put_task(task)
    deploy_function(
        lambdas, NAME, "reviews", {"DATA_LAKE_BUCKET": BUCKET, "STAGE": "test", **people_env()}
    )
    return task


def stored_answers() -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"reviews/{ITERATION}/")
    return [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith("answers.json")]


GOOD = {
    "reviewer_id": "rev-1",
    "answers": [
        {"item_id": "item-1", "labels": ["Business"]},
        {"item_id": "item-2", "labels": ["Sports"]},
    ],
}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (with_raw(GOOD, ("reviewer_id",), '"rev\\ud800"'), "reviewer_id", "must be valid UTF-8"),
        (
            with_raw(GOOD, ("answers", 0, "item_id"), '"\\udc00"'),
            "answers[0].item_id",
            "must be valid UTF-8",
        ),
        (
            with_raw(GOOD, ("answers", 1, "labels", 0), '"Sp\\udfffrts"'),
            "answers[1].labels[0]",
            "must be valid UTF-8",
        ),
        (with_raw(GOOD, ("answers", 0), nested(DEEP)), "answers", "is nested deeper"),
        (with_raw(GOOD, ("reviewer_id",), nested(VERY_DEEP)), "body", "is nested deeper"),
        (with_raw(GOOD, ("answers", 0, "labels"), "NaN"), "answers[0].labels", "must be a finite"),
        (with_repeated_key(GOOD, "reviewer_id", "someone-else"), "reviewer_id", "is given more"),
        ({**GOOD, "answers": {"item-1": ["Business"]}}, "answers", "must be an array"),
        ({**GOOD, "answers": [["item-1", "Business"]]}, "answers[0]", "must be an object"),
        (
            {**GOOD, "answers": [{"item_id": "item-1", "labels": "Business"}]},
            "answers[0].labels",
            "must be an array",
        ),
        ({**GOOD, "reviewer_id": 7}, "reviewer_id", "must be a string"),
        ({**GOOD, "reviewer_id": "r" * 257}, "reviewer_id", "must be at most 256"),
        (
            {**GOOD, "answers": [{"item_id": "i" * 100_000, "labels": ["Business"]}]},
            "answers[0].item_id",
            "must be at most 256",
        ),
        ("[]", "$", "must be an object"),
        (
            {**GOOD, "answers": [{"item_id": "item-1", "labels": ["Business"]}] * 1001},
            "answers",
            "must have at most 1000",
        ),
        (
            {**GOOD, "answers": [{"item_id": "../item-1", "labels": ["Business"]}]},
            "answers[0].item_id",
            "'../item-1' is not in this batch",
        ),
    ],
)
def test_hostile_answers_are_400_naming_the_field(review_api, body, field, message):
    status, answer = call(NAME, f"/reviews/{BATCH}/answers", body=body)
    assert status == 400, answer
    assert fields(answer)[0] == field, answer
    assert answer["errors"][0]["message"].startswith(message), answer
    assert stored_answers() == []


@pytest.mark.parametrize(
    "batch_id",
    [
        "..",
        "%2e%2e",
        "b" * 2000,  # an S3 key over 1,024 bytes was a 502
        f"{BATCH}%00",
        "-leading-hyphen",
        "\u0130stanbul",
    ],
)
def test_ids_that_name_no_batch_are_404(review_api, batch_id):
    status, answer = call(NAME, f"/reviews/{batch_id}", "GET")
    assert status == 404, answer
    status, answer = call(NAME, f"/reviews/{batch_id}/answers", body=GOOD)
    assert status == 404, answer
    assert stored_answers() == []


def test_the_good_answers_are_still_taken(review_api):
    status, answer = call(NAME, f"/reviews/{BATCH}/answers", body=GOOD)
    assert status == 200, answer
    assert answer["answered"] == 2
    assert len(stored_answers()) == 1


def test_a_huge_array_of_objects_is_refused_in_linear_time(review_api):
    # jsonschema's uniqueItems compared 30,000 unhashable items pairwise: minutes of Lambda.
    labels = [{"label": i} for i in range(30_000)]
    body = {**GOOD, "answers": [{"item_id": "item-1", "labels": labels}]}
    started = time.monotonic()
    status, answer = call(NAME, f"/reviews/{BATCH}/answers", body=body)
    assert time.monotonic() - started < 30
    assert status == 400, answer
    assert answer["errors_truncated"] is True
    assert all(f.startswith("answers[0].labels") for f in fields(answer))
    assert stored_answers() == []


def test_answers_to_a_batch_whose_iteration_was_stopped_are_409_and_stored_nowhere(review_api):
    # An operator stops the iteration (StopExecution) while its batch waits: the answers were
    # stored as "answered". moto's execution of the iteration itself does not stop a task-token
    # wait, so the batch here belongs to an execution that moto does stop (a long Wait state);
    # the review API sees what it would on AWS: DescribeExecution says ABORTED.
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="textloop-test-stopped",
        roleArn=_role(),
        definition=json.dumps(
            {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
        ),
    )["stateMachineArn"]
    execution_arn = sfn.start_execution(stateMachineArn=machine, name="it-stopped")["executionArn"]
    now = datetime.now(UTC)
    batch_id = "it-stopped-0000-0123456789ab"
    task = reviews.build_task(
        batch={"batch_id": batch_id, "items": [{"id": "item-1", "text": "Oil prices rose."}]},
        iteration_id="it-stopped",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        options=["Business", "Sports", "World"],
        task_token="token-of-the-stopped-iteration",
        created_at=now,
        deadline=now + timedelta(hours=1),
        review_backend="local",
        execution_arn=execution_arn,
    )
    ReviewStore(DataLake(boto3.client("s3"), BUCKET)).put_task(task)
    status, listed = call(NAME, "/reviews", "GET")
    assert status == 200 and batch_id in [b["batch_id"] for b in listed["reviews"]], listed

    sfn.stop_execution(executionArn=execution_arn, cause="stopped by an operator")
    # moto's executing backend stops the execution's thread, which then records ABORTED: a
    # moment after StopExecution answers, not before (seen RUNNING in one CI run).
    deadline = time.monotonic() + 30
    while (
        sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "ABORTED"
    status, listed = call(NAME, "/reviews", "GET")
    assert status == 200 and batch_id not in [b["batch_id"] for b in listed["reviews"]], listed
    status, shown = call(NAME, f"/reviews/{batch_id}", "GET")
    assert status == 200 and shown["status"] == "stopped", shown
    answers = {"answers": [{"item_id": "item-1", "labels": ["Business"]}]}
    status, answer = call(NAME, f"/reviews/{batch_id}/answers", body=answers)
    assert status == 409, answer
    assert answer == {
        "message": f"review batch {batch_id} is closed: its iteration it-stopped is stopped "
        "and waits for no answers",
        "batch_id": batch_id,
        "status": "stopped",
    }
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="reviews/it-stopped/")
    assert [o["Key"] for o in listed["Contents"] if o["Key"].endswith("answers.json")] == []

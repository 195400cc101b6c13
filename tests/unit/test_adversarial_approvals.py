"""POST /approvals/{iteration_id} under hostile input (issue 11): 400 naming the field, 404 for
ids that are not iteration ids, never a 5xx, no answer stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from textloop.adapters.lake import DataLake
from textloop.domain import layout
from textloop.domain.timestamps import format_timestamp

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
from tests.support.stack import create_bucket, deploy_function

BUCKET = "textloop-test-approvals"
NAME = "textloop-approvals"
ITERATION = "it-approve-1"
GOOD = {"approver": "lead@example.com", "approved": True, "comment": "looks right"}


@pytest.fixture
def approval_api(lambdas):
    create_bucket(BUCKET)
    now = datetime.now(UTC)
    # What the WaitForApproval step stores (steps/wait_for_approval.py).
    DataLake(boto3.client("s3"), BUCKET).put_json(
        layout.approval_key(ITERATION),
        {
            "iteration_id": ITERATION,
            "model_type": "DOCUMENT_CLASSIFIER",
            "candidate_model_version": "agnews-2",
            "active_model_version": "agnews-1",
            "reason": "F1 +0.04",
            "requested_at": format_timestamp(now),
            "deadline": format_timestamp(now + timedelta(hours=1)),
            "task_token": "token-of-the-iteration",
        },
    )
    deploy_function(
        lambdas, NAME, "approvals", {"DATA_LAKE_BUCKET": BUCKET, "STAGE": "test", **people_env()}
    )


def stored_answer() -> bool:
    listed = boto3.client("s3").list_objects_v2(
        Bucket=BUCKET, Prefix=layout.approval_response_key(ITERATION)
    )
    return bool(listed.get("Contents"))


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (with_raw(GOOD, ("approver",), '"lead\\ud800"'), "approver", "must be valid UTF-8"),
        (with_raw(GOOD, ("comment",), '"ok \\udfff"'), "comment", "must be valid UTF-8"),
        (with_raw(GOOD, ("approved",), "NaN"), "approved", "must be a finite number"),
        (with_raw(GOOD, ("approved",), nested(DEEP, "true")), "approved", "is nested deeper"),
        (with_raw(GOOD, ("comment",), nested(VERY_DEEP)), "body", "is nested deeper"),
        # Which decision was meant? Neither is taken.
        (with_repeated_key(GOOD, "approved", False), "approved", "is given more than once"),
        ({**GOOD, "approved": "true"}, "approved", "must be a boolean"),
        ({**GOOD, "approved": 1}, "approved", "must be a boolean"),
        ({**GOOD, "approver": ["lead"]}, "approver", "must be a string"),
        ({**GOOD, "approver": "\t \n"}, "approver", "must not be empty"),
        ({**GOOD, "comment": "c" * 4001}, "comment", "must be at most 4000"),
        ({**GOOD, "operator": "me"}, "operator", "is not allowed"),
        ("true", "$", "must be an object"),
    ],
)
def test_hostile_answers_are_400_naming_the_field(approval_api, body, field, message):
    status, answer = call(NAME, f"/approvals/{ITERATION}", body=body)
    assert status == 400, answer
    assert fields(answer) == [field], answer
    assert answer["errors"][0]["message"].startswith(message), answer
    assert not stored_answer()


@pytest.mark.parametrize(
    "iteration_id",
    ["..", "%2e%2e", "it" * 41, "-it", "it.approve", "it%0A", "\u0131t-approve-1"],
)
def test_ids_that_name_no_iteration_are_404(approval_api, iteration_id):
    status, answer = call(NAME, f"/approvals/{iteration_id}", body=GOOD)
    assert status == 404, answer
    assert not stored_answer()


def test_the_good_answer_passes_every_check_up_to_step_functions(approval_api):
    # The request's token belongs to no execution, so Step Functions refuses it: the good answer
    # got past every input check, and the late-answer rule withdrew it (409, nothing stored). A
    # good answer taken end to end: test_iteration_flow's manual-approval tests.
    status, answer = call(NAME, f"/approvals/{ITERATION}", body=GOOD)
    assert status == 409, answer
    assert answer["status"] == "expired" and "InvalidToken" in answer["message"]
    assert not stored_answer()

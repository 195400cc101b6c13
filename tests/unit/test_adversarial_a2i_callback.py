"""The A2I callback under hostile events (issue 11): a status change of a human loop that is not
a textloop batch is logged, counted and ignored, never raised (a raise retried it into the
dead-letter queue); a textloop loop whose output is hostile fails its batch, it does not crash.

Event and output shapes: AWS's published "SageMaker A2I HumanLoop Status Change" event and
output.json of a custom task (tests/support/aws_examples.py), as in test_iteration_flow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from textloop.adapters.lake import DataLake
from textloop.adapters.reviews_store import ReviewStore
from textloop.domain import reviews

from tests.support import aws_examples
from tests.support.hostile import DEEP, VERY_DEEP, invoke, nested
from tests.support.stack import create_bucket, deploy_function

BUCKET = "textloop-test-a2i"
NAME = "textloop-a2i-callback"
FLOW = "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/textloop-review"
OURS = "it-a2i-0000-0123456789ab"
LOCAL = "it-a2i-0001-0123456789ab"


def put_task(batch_id: str, backend: str) -> None:
    now = datetime.now(UTC)
    task = reviews.build_task(
        batch={"batch_id": batch_id, "items": [{"id": "item-1", "text": "Stocks rally"}]},
        iteration_id="it-a2i",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        options=["Business", "World"],
        task_token=f"token-{batch_id}",
        created_at=now,
        deadline=now + timedelta(hours=1),
        review_backend=backend,
    )
    ReviewStore(DataLake(boto3.client("s3"), BUCKET)).put_task(task)


@pytest.fixture
def callback(lambdas):
    create_bucket(BUCKET)
    put_task(OURS, "a2i")
    put_task(LOCAL, "local")
    env = {"DATA_LAKE_BUCKET": BUCKET, "A2I_FLOW_DEFINITION_ARN": FLOW, "STAGE": "test"}
    deploy_function(lambdas, NAME, "a2i_callback", env)


def event(loop, status="Completed", *, flow=FLOW, output_uri=None) -> dict:
    return aws_examples.a2i_status_change(
        loop, status, flow_definition_arn=flow, output_uri=output_uri
    )


def answers_stored(batch_id: str) -> bool:
    key = f"reviews/it-a2i/batches/{batch_id}/answers.json"
    return DataLake(boto3.client("s3"), BUCKET).exists(key)


# Reading this would fail (no such bucket): a foreign loop's output must not even be read.
ELSEWHERE = "s3://someone-elses-bucket/output/loop/output.json"


@pytest.mark.parametrize(
    ("loop", "status", "flow", "output_uri"),
    [
        ("their-loop", "Completed", FLOW.replace("textloop-review", "their-flow"), ELSEWHERE),
        ("their-loop", "Completed", FLOW, ELSEWHERE),
        ("their-loop", "Completed", FLOW, None),
        ("their-loop", "Failed", FLOW, None),
        ("their-loop", "Stopped", FLOW, None),
        ("..", "Completed", FLOW, ELSEWHERE),
        ("a/../../b", "Failed", FLOW, None),
        ("x" * 2000, "Completed", FLOW, ELSEWHERE),
        (f"{OURS}\n", "Completed", FLOW, ELSEWHERE),
        ("loop-\ud800", "Stopped", FLOW, None),
        # A textloop batch reviewed on the review page, not by A2I.
        (LOCAL, "Completed", FLOW, ELSEWHERE),
        (LOCAL, "Failed", FLOW, None),
    ],
)
def test_foreign_loops_are_counted_and_ignored(callback, capsys, loop, status, flow, output_uri):
    result = invoke(NAME, event(loop, status, flow=flow, output_uri=output_uri))
    assert result == {"batch_id": loop, "status": "ignored"}
    assert '"A2IForeignLoopIgnored"' in capsys.readouterr().out
    assert not answers_stored(OURS) and not answers_stored(LOCAL)


def put_output(body: bytes) -> str:
    key = f"a2i-output/textloop-review/2025/11/23/02/27/03/{OURS}/output.json"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def human(answer_content, worker: object = "a1b2c3d4e5f6") -> dict:
    return aws_examples.human_answer(answer_content, worker_id=worker)


# What StartReview sent A2I for put_task's batch (reviews.a2i_input_content).
INPUT_CONTENT = {
    "batch_id": OURS,
    "mode": "MULTI_CLASS",
    "options": ["Business", "World"],
    "items": [{"item_id": "item-1", "text": "Stocks rally", "suggestion": None}],
}


def output(*humans) -> bytes:
    return json.dumps(
        aws_examples.a2i_output(
            *humans, loop=OURS, flow_definition_arn=FLOW, input_content=INPUT_CONTENT
        )
    ).encode()


ANSWERS = [{"item_id": "item-1", "labels": ["Business"]}]
# The published answer's timeSpentInSeconds, to be turned into a NaN.
SPENT = json.dumps(human({})["timeSpentInSeconds"]).encode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "output.json"),
        (b"\xff\xfe", "output.json"),
        (nested(VERY_DEEP).encode(), "output.json"),
        (output(human({"answers": ANSWERS})).replace(SPENT, b"NaN"), "humanAnswers"),
        (output(human({"answers": ANSWERS}, worker="w\ud800")), "humanAnswers"),
        (b'{"humanAnswers": {"a": 1}}', "humanAnswers"),
        (b'{"humanAnswers": ["worker"]}', "humanAnswers[0]"),
        (b"[]", "$"),
        (output(human("{not json")), "humanAnswers[0].answerContent"),
        (output(human(["answers"])), "humanAnswers[0].answerContent"),
        (output(human({"answers": "[{"})), "humanAnswers[0].answerContent.answers"),
        (output(human({"answers": json.dumps([{"item_id": 7}])})), "humanAnswers[0].answers"),
        (output(human({"answers": nested(DEEP)})), "humanAnswers[0].answerContent.answers"),
        (output(human({"answers": [{"item_id": "nope", "labels": ["Business"]}]})), "answers"),
        (output(), "humanAnswers"),
    ],
)
def test_hostile_output_of_our_loop_rejects_the_batch_without_raising(callback, body, field):
    result = invoke(NAME, event(OURS, output_uri=put_output(body)))
    assert result["batch_id"] == OURS and result["status"] == "rejected", result
    assert field in result["errors"], result
    assert not answers_stored(OURS)


def test_our_loop_with_a_good_output_is_answered(callback):
    # The template's hidden field, submitted as a string like every crowd-form field.
    body = output(human(aws_examples.answers_field(ANSWERS)))
    result = invoke(NAME, event(OURS, output_uri=put_output(body)))
    assert result["status"] == "answered" and result["answered"] == 1, result
    assert answers_stored(OURS)

"""Single steps and adapters of the iteration: input rules, review checks, the lock, A2I start,
data-set failures and rollback (moto; botocore Stubber only for the A2I runtime)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from textloop.adapters.a2i import HumanLoops
from textloop.adapters.registry import Registry
from textloop.domain import iteration, reviews
from textloop.domain.errors import InvalidIterationInput, ReviewInputTooLarge
from textloop.domain.iteration import IterationConfig, IterationInput
from textloop.domain.validation import InvalidInput

from tests.support import FUNCTIONS, aws_examples
from tests.support.iteration_data import put_seed
from tests.support.iteration_stack import (
    BUCKET,
    ITERATION_DEFINITION,
    PREFIX,
    TABLE,
    deploy_iteration_stack,
)
from tests.support.stack import create_registry_table
from tests.support.templates import render_definition, template_variables

ITERATION = {
    "iteration_id": "it-1",
    "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:m:it-1",
    "started_at": "2025-11-23T02:27:03.324Z",
    "model_type": "DOCUMENT_CLASSIFIER",
    "mode": "MULTI_CLASS",
    "config": {**iteration.DEFAULTS, "min_docs_per_label": 5},
    "lock": {"acquired": True},
}


def test_input_rejects_unknown_settings_by_name():
    with pytest.raises(InvalidIterationInput) as caught:
        IterationInput.parse({"config": {"reveiw_budget": 3}, "modle": 1}, IterationConfig())
    assert "config.reveiw_budget: is not allowed" in str(caught.value)
    assert "modle: is not allowed" in str(caught.value)
    deployment = iteration.deployment_config('{"review_budget": 9}')
    parsed = IterationInput.parse({"config": {"review_budget": 3}}, deployment)
    assert parsed.config.review_budget == 3 and parsed.mode == "MULTI_CLASS"
    assert IterationInput.parse({}, deployment).config.review_budget == 9
    assert type(caught.value).__name__ == "Textloop.InvalidIterationInput"


@pytest.mark.parametrize(
    ("data", "model_type", "trigger", "budget"),
    [
        (
            {"trigger": "schedule", "config": {"review_budget": 7}},
            "DOCUMENT_CLASSIFIER",
            "schedule",
            7,
        ),
        ({}, "DOCUMENT_CLASSIFIER", "manual", 50),
        # Invalid inputs: the deployment's settings, and what the input says where it can be read.
        (
            {"model_type": "ENTITY_RECOGNIZER", "trigger": "api", "x": 1},
            "ENTITY_RECOGNIZER",
            "api",
            50,
        ),
        (
            {"model_type": ["DOCUMENT_CLASSIFIER"], "trigger": {"a": 1}},
            "DOCUMENT_CLASSIFIER",
            None,
            50,
        ),
        (["not", "an", "object"], "DOCUMENT_CLASSIFIER", None, 50),
        ("text", "DOCUMENT_CLASSIFIER", None, 50),
    ],
)
def test_a_failed_prepare_is_recorded_as_far_as_its_input_tells(data, model_type, trigger, budget):
    it = iteration.unprepared_iteration(
        iteration_id="it-1",
        execution_arn=ITERATION["execution_arn"],
        started_at="2025-11-23T02:27:03.324123Z",
        data=data,
        deployment=IterationConfig(),
    )
    assert (it.model_type, it.trigger, it.config.review_budget) == (model_type, trigger, budget)
    assert it.started_at == "2025-11-23T02:27:03.324Z" and it.lock == {}
    assert it.mode == (None if model_type == "ENTITY_RECOGNIZER" else "MULTI_CLASS")


def test_submission_must_fit_the_batch():
    task = {
        "batch_id": "b",
        "iteration_id": "it-1",
        "mode": "MULTI_CLASS",
        "options": ["Sports", "World"],
        "items": [{"item_id": "a", "text": "x"}, {"item_id": "b", "text": "y"}],
    }
    submission = reviews.parse_submission(
        {
            "reviewer_id": "r",
            "answers": [
                {"item_id": "a", "labels": ["Sports", "World"]},
                {"item_id": "zz", "labels": ["Weather"]},
            ],
        }
    )
    with pytest.raises(InvalidInput) as caught:
        reviews.check_submission(task, submission)
    fields = [(e.field, e.message) for e in caught.value.errors]
    assert ("answers[0].labels", "a MULTI_CLASS answer names exactly one label") in fields
    assert ("answers[1].item_id", "'zz' is not in this batch") in fields
    assert fields[-1][0] == "answers[1].labels" and "Weather" in fields[-1][1]
    with pytest.raises(InvalidInput) as caught:
        reviews.parse_submission({"reviewer_id": "r", "answers": []})
    assert caught.value.errors[0].field == "answers"


def _table():
    create_registry_table(TABLE)
    return Registry(boto3.client("dynamodb"), TABLE)


def test_lock_is_exclusive_until_released_expired_or_abandoned(aws):
    registry = _table()
    now = datetime(2025, 11, 23, tzinfo=UTC)
    args = {"ttl_seconds": 60, "now": now}
    assert registry.acquire("DOCUMENT_CLASSIFIER", holder="A", iteration_id="a", **args).acquired
    # A retried Prepare of the holder gets it again; anyone else is refused, naming the holder.
    assert registry.acquire("DOCUMENT_CLASSIFIER", holder="A", iteration_id="a", **args).acquired
    refused = registry.acquire(
        "DOCUMENT_CLASSIFIER", holder="B", iteration_id="b", is_running=lambda _: True, **args
    )
    assert not refused.acquired and refused.holder == "A"
    assert not registry.release("DOCUMENT_CLASSIFIER", holder="B")
    taken = registry.acquire(
        "DOCUMENT_CLASSIFIER",
        holder="B",
        iteration_id="b",
        is_running=lambda arn: arn != "A",
        **args,
    )
    assert taken.acquired and taken.taken_over_from == "A"
    later = now + timedelta(seconds=61)
    expired = registry.acquire(
        "DOCUMENT_CLASSIFIER", holder="C", iteration_id="c", ttl_seconds=60, now=later
    )
    assert (
        expired.acquired and registry.lock_holder("DOCUMENT_CLASSIFIER", now=later)["holder"] == "C"
    )
    assert registry.release("DOCUMENT_CLASSIFIER", holder="C")
    assert registry.lock_holder("DOCUMENT_CLASSIFIER") is None


def test_human_loop_start_is_idempotent_and_refuses_oversized_input():
    client = boto3.client("sagemaker-a2i-runtime", region_name="us-east-1")
    stubber = aws_examples.stubber(client)
    stubber.add_client_error(
        "start_human_loop", "ConflictException", "HumanLoop it-1-0000-abc already exists"
    )
    loops = HumanLoops(client)
    flow = "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/f"
    with stubber:
        assert loops.start("it-1-0000-abc", flow, "{}") == {
            "human_loop_name": "it-1-0000-abc",
            "started": False,
        }
        with pytest.raises(ReviewInputTooLarge, match="Lower review_batch_size"):
            loops.start("it-1-0000-abc", flow, "x" * (reviews.A2I_MAX_INPUT_CHARS + 1))
        with pytest.raises(ValueError, match="not a valid human-loop name"):
            loops.start("It_1", flow, "{}")


def test_broken_data_set_fails_with_its_report(lambdas, ag_news_rows):
    deploy_iteration_stack(lambdas)
    few_sports = [r for r in ag_news_rows[:400] if r[0] != "Sports"]
    few_sports += [r for r in ag_news_rows[:400] if r[0] == "Sports"][:3]
    put_seed(BUCKET, few_sports)
    out = boto3.client("lambda").invoke(
        FunctionName="textloop-build-datasets",
        Payload=json.dumps(
            {"iteration": ITERATION, "pool": {"pool_version": None, "pool_key": None}}
        ),
    )
    error = json.loads(out["Payload"].read())
    assert out["FunctionError"] and error["errorType"] == "Textloop.DatasetInvalid"
    assert "Sports" in error["errorMessage"]
    (key,) = [
        o["Key"]
        for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
        if o["Key"].endswith("validation-report.json")
    ]
    report = json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert not report["ok"] and report["problems"]


def test_rollback_points_back_through_the_models_api(lambdas, ag_news_rows, ag_news_model):
    from textloop.adapters.active_model import (
        ActiveModelPointer,
        ActiveModelPointerStore,
        move_pointer,
    )
    from textloop.adapters.artefacts import ModelArtefactStore
    from textloop.domain import local_model

    stack = deploy_iteration_stack(lambdas)
    s3, registry = boto3.client("s3"), Registry(boto3.client("dynamodb"), TABLE)
    pointers = ActiveModelPointerStore(
        boto3.client("ssm"), f"{PREFIX}/active-model/DOCUMENT_CLASSIFIER", max_age_seconds=0
    )
    small = local_model.fit(
        [t for _, t in ag_news_rows[:200]],
        [lb for lb, _ in ag_news_rows[:200]],
        "MULTI_CLASS",
        model_version="small-1",
    )
    for n, model in enumerate([ag_news_model, small]):
        uri = ModelArtefactStore(s3, BUCKET).put(
            model.model_version, local_model.save(model), model.metadata
        )
        move_pointer(
            registry=registry,
            pointer_store=pointers,
            comprehend=None,
            event_id=f"it-{n}",
            kind="promotion",
            pointer=ActiveModelPointer(
                model_version=model.model_version,
                backend="local",
                model_type="DOCUMENT_CLASSIFIER",
                mode="MULTI_CLASS",
                artefact_uri=uri,
            ),
            model_arn=None,
            metrics={"F1Score": 0.8 - n / 10},
            reason="test",
            iteration_id=f"it-{n}",
            now=datetime(2025, 11, 23, 1 + n, tzinfo=UTC),
        )
    status, body = stack.api("models", "/models/rollback", "POST", {"reason": "regression"})
    assert status == 200, body
    assert body["model_version"] == ag_news_model.model_version and body["changed"]
    assert body["previous_model_version"] == "small-1"
    # Audited with the operator (the token's person, DEFAULT_PEOPLE) and announced, once.
    (audit_key,) = stack.keys("audit/rollbacks/DOCUMENT_CLASSIFIER/")
    audit = stack.get_json(audit_key)
    assert audit["operator"] == "operator-1" and audit["reason"].endswith(": regression.")
    assert audit["model_version"] == ag_news_model.model_version
    assert audit["previous_model_version"] == "small-1"
    (message,) = [n for n in stack.notifications() if n["Subject"] == "textloop model rolled back"]
    assert "small-1" in message["Message"] and audit_key in message["Message"]
    assert "operator-1" in message["Message"]
    # Naming the target makes a retried request safe: the model already serves.
    retry = {"model_version": ag_news_model.model_version, "reason": "regression"}
    status, again = stack.api("models", "/models/rollback", "POST", retry)
    assert status == 200 and again["changed"] is False, again
    assert stack.keys("audit/rollbacks/") == [audit_key] and stack.get_json(audit_key) == audit
    assert stack.notifications() == []
    # A first attempt that moved the pointer and died before its record: the retry writes it.
    boto3.client("s3").delete_object(Bucket=BUCKET, Key=audit_key)
    status, again = stack.api("models", "/models/rollback", "POST", retry)
    assert status == 200 and again["changed"] is False
    assert stack.get_json(audit_key)["rolled_back_at"] == audit["rolled_back_at"]
    assert len(stack.notifications()) == 1
    # Without an operator's token nothing moves: none is 401, a reviewer's is 403.
    back = {"model_version": "small-1", "reason": "x"}
    assert stack.api("models", "/models/rollback", "POST", back, token=None)[0] == 401
    reviewer = stack.token("rev-1", "reviewers")
    assert stack.api("models", "/models/rollback", "POST", back, token=reviewer)[0] == 403
    status, active = stack.api("models", "/models/active")
    assert active["pointer"]["model_version"] == ag_news_model.model_version
    status, history = stack.api("models", "/models")
    assert [e["kind"] for e in history["history"]] == ["promotion", "promotion", "rollback"]
    status, body = stack.api(
        "models", "/models/rollback", "POST", {"model_version": "nope", "reason": "x"}
    )
    assert status == 409 and "not in the registry" in body["message"]
    status, body = stack.api("models", "/models/rollback", "POST", {"model_version": "v"})
    assert status == 400 and body["errors"][0]["field"] == "reason"


def test_definition_names_only_variables_terraform_provides():
    # modules/textloop passes <key>_function_arn for every function plus these few names; a new
    # ${...} in the ASL must be wired there too.
    functions = {p.name for p in FUNCTIONS.iterdir() if (p / "app.py").exists()}
    provided = {f"{name}_function_arn" for name in functions} | {
        "data_lake_bucket",
        "artifacts_bucket",
        "notifications_topic_arn",
        "stage",
    }
    used = template_variables(ITERATION_DEFINITION)
    assert used <= provided, used - provided
    assert {"prepare_function_arn", "start_review_function_arn"} <= used
    with pytest.raises(KeyError, match="prepare_function_arn"):
        render_definition(ITERATION_DEFINITION, {})


EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:textloop-test-iteration:it-race"


def _race_store(now: datetime):
    """A review batch whose task is stored, with a deadline an hour ahead."""
    from textloop.adapters.lake import DataLake
    from textloop.adapters.reviews_store import ReviewStore

    from tests.support.stack import create_bucket

    create_bucket(BUCKET)
    store = ReviewStore(DataLake(boto3.client("s3"), BUCKET))
    task = reviews.build_task(
        batch={"batch_id": "b-race", "items": [{"id": "item-1", "text": "Oil prices rose."}]},
        iteration_id="it-race",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        options=["Business", "World"],
        task_token="token-1",
        created_at=now,
        deadline=now + timedelta(hours=1),
        review_backend="local",
        execution_arn=EXECUTION,
    )
    store.put_task(task)
    submission = reviews.parse_submission(
        {"reviewer_id": "rev-1", "answers": [{"item_id": "item-1", "labels": ["Business"]}]}
    )
    return store, submission


def _described(status: str, now: datetime) -> dict:
    # DescribeExecution's response shape (Step Functions API reference).
    return {
        "executionArn": EXECUTION,
        "stateMachineArn": EXECUTION.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
        "status": status,
        "startDate": now,
    }


@pytest.mark.parametrize(("after", "withdrawn"), [("FAILED", True), ("RUNNING", False)])
def test_answers_stored_as_the_wait_ends_are_withdrawn_unless_it_still_runs(aws, after, withdrawn):
    """Step Functions refuses the token after the answers were stored (the wait ended between
    the check and the call): if the execution ended, the answers are withdrawn and the batch
    is closed; if it still runs (the Map's ReturnToPool will use answers already stored), they
    stay."""
    from textloop.adapters.reviews_store import BatchClosed, complete_batch
    from textloop.adapters.task_tokens import TaskTokens

    now = datetime.now(UTC)
    store, submission = _race_store(now)
    sfn = boto3.client("stepfunctions")
    stubber = Stubber(sfn)
    stubber.add_response(
        "describe_execution", _described("RUNNING", now), {"executionArn": EXECUTION}
    )
    stubber.add_client_error(
        "send_task_success", "TaskTimedOut", "Task Timed Out: 'Provided task does not exist'", 400
    )
    stubber.add_response("describe_execution", _described(after, now), {"executionArn": EXECUTION})
    with stubber:
        if withdrawn:
            with pytest.raises(BatchClosed) as caught:
                complete_batch(store, TaskTokens(sfn), "b-race", [submission], source="test")
            assert caught.value.status == "failed"
        else:
            done = complete_batch(store, TaskTokens(sfn), "b-race", [submission], source="test")
            assert not done.token_delivered and done.token_code == "TaskTimedOut"
        stubber.assert_no_pending_responses()
    assert (store.answers("it-race", "b-race") is None) is withdrawn

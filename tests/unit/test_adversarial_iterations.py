"""The iterations API under hostile input (issue 11): a config that would fail the execution
later is refused now, naming the field; a base64-encoded body starts the iteration it says;
ids that are not execution names are 404, never a 5xx."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.support.hostile import (
    DEEP,
    VERY_DEEP,
    call,
    fields,
    nested,
    with_raw,
    with_repeated_key,
)
from tests.support.iteration_stack import deploy_iteration_stack, function_name

NAME = function_name("iterations")
GOOD = {"model_type": "DOCUMENT_CLASSIFIER", "config": {"random_share": 0.2, "review_budget": 5}}


@pytest.fixture
def stack(lambdas):
    return deploy_iteration_stack(lambdas)


def executions(stack) -> list[dict]:
    return boto3.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)[
        "executions"
    ]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        # random_share NaN passed every schema bound (NaN compares False) and failed the run.
        (with_raw(GOOD, ("config", "random_share"), "NaN"), "config.random_share", "must be a"),
        (with_raw(GOOD, ("config", "random_share"), "Infinity"), "config.random_share", "must"),
        (with_raw(GOOD, ("config", "review_budget"), "1e999"), "config.review_budget", "must"),
        (with_raw(GOOD, ("config", "review_budget"), "9" * 4400), "config.review_budget", "is a"),
        (with_raw(GOOD, ("config",), nested(DEEP, "{}")), "config", "is nested deeper"),
        (with_raw(GOOD, ("config",), nested(VERY_DEEP)), "body", "is nested deeper"),
        (with_raw(GOOD, ("model_type",), '"\\ud800"'), "model_type", "must be valid UTF-8"),
        (with_repeated_key(GOOD, "model_type", "ENTITY_RECOGNIZER"), "model_type", "is given"),
        ({**GOOD, "config": []}, "config", "must be an object"),
        ({**GOOD, "config": {"random_share": "0.2"}}, "config.random_share", "must be a number"),
        ({**GOOD, "config": {"review_budget": 1.5}}, "config.review_budget", "must be an integer"),
        ({**GOOD, "config": {"review_budget": True}}, "config.review_budget", "must be an integer"),
        ({**GOOD, "config": {"review_budget": -1}}, "config.review_budget", "must be >= 0"),
        # JSON Schema calls 5.0 an integer; the Select step did not (202, then FAILED).
        ({**GOOD, "config": {"review_budget": 5.0}}, "config.review_budget", "must be an integer"),
        (
            {**GOOD, "config": {"review_timeout_seconds": 60.0}},
            "config.review_timeout_seconds",
            "must be an integer",
        ),
        ({**GOOD, "config": {"min_new_items": 10**300}}, "config.min_new_items", "must be <="),
        ({**GOOD, "trigger": "schedule\u0000"}, "trigger", ""),
        ({**GOOD, "config": {"local_model": "embeddings"}}, "config.local_model", "must be one"),
        # An entity recogniser's local model is its CRF: the classifiers' setting is refused.
        (
            {"model_type": "ENTITY_RECOGNIZER", "config": {"local_model": "tfidf+embeddings"}},
            "config.local_model",
            "applies to DOCUMENT_CLASSIFIER only",
        ),
    ],
)
def test_hostile_inputs_are_400_and_start_nothing(stack, body, field, message):
    status, answer = call(NAME, "/iterations", body=body)
    assert status == 400, answer
    assert fields(answer) == [field], answer
    assert answer["errors"][0]["message"].startswith(message), answer
    assert executions(stack) == []


def test_a_base64_encoded_body_starts_the_iteration_it_describes(stack):
    # API Gateway base64-encodes bodies of binary media types: bytes went to StartExecution.
    status, answer = call(NAME, "/iterations", raw=json.dumps(GOOD).encode())
    assert status == 202, answer
    described = stack.wait(answer["executionArn"])
    # What the API validated, plus what it sets itself: the trigger and the token's operator.
    assert json.loads(described["input"]) == {
        **GOOD,
        "trigger": "api",
        "started_by": "hostile-tester",
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"model_type": "DOCUMENT_CLASSIFIER\xff"}', "must be valid UTF-8 (invalid byte"),
        # UTF-16 without a BOM is valid UTF-8 (NULs and ASCII): it fails as JSON instead.
        ('{"config": {}}'.encode("utf-16-le"), "is not valid JSON"),
        (b"\x1f\x8b\x08\x00", "must be valid UTF-8 (invalid byte"),
    ],
)
def test_a_base64_body_that_is_not_utf8_json_is_400_naming_body(stack, raw, message):
    status, answer = call(NAME, "/iterations", raw=raw)
    assert status == 400, answer
    assert fields(answer) == ["body"]
    assert answer["errors"][0]["message"].startswith(message)
    assert executions(stack) == []


@pytest.mark.parametrize(
    "iteration_id", ["..", "%2e%2e", "x" * 81, "-x", "it.1", "it%0A", "\u0131t-1", "it 1"]
)
def test_ids_that_are_not_execution_names_are_404(stack, iteration_id):
    status, answer = call(NAME, f"/iterations/{iteration_id}", "GET")
    assert status == 404, answer

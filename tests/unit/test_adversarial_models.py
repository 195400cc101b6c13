"""The models API under hostile input (issue 11): rollback bodies and query strings answered
400 naming the field, never a 5xx, the pointer untouched."""

from __future__ import annotations

import boto3
import pytest
from textloop.adapters.active_model import (
    ActiveModelPointer,
    ActiveModelPointerStore,
    pointer_parameter_name,
)

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
from tests.support.stack import create_bucket, create_registry_table, deploy_function

BUCKET = "textloop-test-models"
TABLE = "textloop-test-registry"
PREFIX = "/textloop/test"
NAME = "textloop-models"
GOOD = {"model_type": "DOCUMENT_CLASSIFIER", "model_version": "agnews-1", "reason": "regression"}


@pytest.fixture
def models_api(lambdas):
    create_bucket(BUCKET)
    create_registry_table(TABLE)
    pointer_store().put(
        ActiveModelPointer(
            model_version="agnews-2",
            backend="local",
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_CLASS",
            artefact_uri=f"s3://{BUCKET}/models/agnews-2/model.joblib",
        )
    )
    env = {
        "DATA_LAKE_BUCKET": BUCKET,
        "REGISTRY_TABLE": TABLE,
        "ACTIVE_MODEL_PARAMETER_PREFIX": PREFIX,
        "STAGE": "test",
    }
    deploy_function(lambdas, NAME, "models", {**env, **people_env()})


def pointer_store() -> ActiveModelPointerStore:
    return ActiveModelPointerStore(
        boto3.client("ssm"), pointer_parameter_name(PREFIX, "DOCUMENT_CLASSIFIER")
    )


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        # A surrogate in the reason reached hashlib's encode(): a 502.
        (with_raw(GOOD, ("reason",), '"oops \\ud800"'), "reason", "must be valid UTF-8"),
        (with_raw(GOOD, ("model_version",), '"\\udfff"'), "model_version", "must be valid UTF-8"),
        (with_raw(GOOD, ("model_version",), "NaN"), "model_version", "must be a finite number"),
        (with_raw(GOOD, ("reason",), nested(DEEP, '"r"')), "reason", "is nested deeper"),
        (with_raw(GOOD, ("reason",), nested(VERY_DEEP)), "body", "is nested deeper"),
        (with_repeated_key(GOOD, "model_version", "agnews-0"), "model_version", "is given more"),
        ({**GOOD, "model_version": "../agnews-1"}, "model_version", "has an invalid format"),
        ({**GOOD, "model_version": "agnews-1\n"}, "model_version", "has an invalid format"),
        ({**GOOD, "model_version": "a" * 64}, "model_version", "must be at most 63"),
        ({**GOOD, "model_type": "document_classifier"}, "model_type", "must be one of"),
        ({**GOOD, "reason": ""}, "reason", "must not be empty"),
        ({**GOOD, "reason": ["regression"]}, "reason", "must be a string"),
        ({**GOOD, "reason": "r" * 1001}, "reason", "must be at most 1000"),
    ],
)
def test_hostile_rollbacks_are_400_naming_the_field(models_api, body, field, message):
    _, before = pointer_store().get()
    status, answer = call(NAME, "/models/rollback", body=body)
    assert status == 400, answer
    assert fields(answer) == [field], answer
    assert answer["errors"][0]["message"].startswith(message), answer
    assert pointer_store().get()[1] == before


@pytest.mark.parametrize(
    "model_type", ["", "..", "DOCUMENT_CLASSIFIER\n", "DOCUMENT_CLASSIFIER%00", "x" * 5000]
)
def test_hostile_query_strings_are_400_naming_model_type(models_api, model_type):
    for path in ("/models", "/models/active"):
        status, answer = call(NAME, path, "GET", query={"model_type": model_type})
        assert status == 400, answer
        assert fields(answer) == ["model_type"], answer


def test_the_active_model_is_still_answered(models_api):
    status, answer = call(NAME, "/models/active", "GET")
    assert status == 200, answer
    assert answer["pointer"]["model_version"] == "agnews-2"

"""POST /feedback under hostile input (issue 11): 4xx naming the field, never a 5xx, nothing
written; the model version must have served and the labels be the model's."""

from __future__ import annotations

import json

import boto3
import pytest
from textloop.adapters.registry import Registry

from tests.support.hostile import (
    DEEP,
    VERY_DEEP,
    ZERO_WIDTH,
    call,
    fields,
    nested,
    with_raw,
    with_repeated_key,
)
from tests.support.stack import create_registry_table, deploy_function

from .test_inference_handlers import (  # noqa: F401
    _env,
    _feedback_body,
    deployed,
    feedback_objects,
)

NAME = "textloop-feedback"
GOOD = _feedback_body()
TABLE = "textloop-test-registry"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        # NaN as a score was a 502 (the record could not be encoded).
        (
            with_raw(GOOD, ("prediction", "labels", 0, "score"), "NaN"),
            "prediction.labels[0].score",
            "must be a finite number",
        ),
        (
            with_raw(GOOD, ("prediction", "labels", 1, "score"), "Infinity"),
            "prediction.labels[1].score",
            "must be a finite number",
        ),
        (
            with_raw(GOOD, ("prediction", "labels", 1, "score"), "-1e999"),
            "prediction.labels[1].score",
            "must be a finite number",
        ),
        # Lone surrogates in every string field, not only text.
        (
            with_raw(GOOD, ("submitter", "user_id"), '"u\\ud800"'),
            "submitter.user_id",
            "must be valid UTF-8",
        ),
        (
            with_raw(GOOD, ("corrected_labels", 0), '"\\udc00"'),
            "corrected_labels[0]",
            "must be valid UTF-8",
        ),
        (
            with_raw(GOOD, ("prediction", "labels", 0, "label"), '"B\\udbff"'),
            "prediction.labels[0].label",
            "must be valid UTF-8",
        ),
        (with_raw(GOOD, ("model_version",), '"\\ud83d"'), "model_version", "must be valid UTF-8"),
        (with_raw(GOOD, ("mode",), '"\\ude00MULTI_CLASS"'), "mode", "must be valid UTF-8"),
        (with_raw(GOOD, ("reason",), '"\\ud800"'), "reason", "must be valid UTF-8"),
        (with_raw(GOOD, ("text",), '"\\ud800 text"'), "text", "must be valid UTF-8"),
        # Deep nesting in any field.
        (
            with_raw(GOOD, ("prediction", "routed_to_review"), nested(DEEP)),
            "prediction",
            "is nested deeper",
        ),
        (with_raw(GOOD, ("submitter", "user_id"), nested(VERY_DEEP)), "body", "is nested deeper"),
        # Repeated keys: the API must not pick one of two corrections silently.
        (
            with_repeated_key(GOOD, "corrected_labels", ["World"]),
            "corrected_labels",
            "is given more than once",
        ),
        # Invisible-only text and names.
        ({**GOOD, "text": ZERO_WIDTH}, "text", "must not be empty"),
        ({**GOOD, "submitter": {"user_id": "\u200b"}}, "submitter.user_id", "must not be empty"),
        # Control and zero-width characters inside a name: two ids that look alike.
        ({**GOOD, "submitter": {"user_id": "u-1\u0000"}}, "submitter.user_id", "must not contain"),
        ({**GOOD, "submitter": {"user_id": "u\u200b-1"}}, "submitter.user_id", "must not contain"),
        # Labels outside the model's label set, predicted or corrected.
        ({**GOOD, "corrected_labels": ["Sport"]}, "corrected_labels[0]", "is not a label of"),
        (
            {**GOOD, "corrected_labels": ["Sports\u200b"]},
            "corrected_labels[0]",
            "is not a label of",
        ),
        (
            {
                **GOOD,
                "prediction": {
                    "labels": [{"label": "Weather", "score": 0.9}],
                    "routed_to_review": False,
                },
            },
            "prediction.labels[0].label",
            "is not a label of",
        ),
        # Unknown model versions.
        ({**GOOD, "model_version": "agnews-test-2"}, "model_version", "is not a version that"),
        ({**GOOD, "model_version": "agnews-test-1\n"}, "model_version", "has an invalid format"),
        ({**GOOD, "model_version": "x" * 64}, "model_version", "must be at most 63"),
        (
            {
                "text": "AWS Lambda runs code",
                "model_type": "ENTITY_RECOGNIZER",
                "model_version": "ner-1",
                "prediction": {"entities": [], "routed_to_review": False},
                "reason": "like",
                "submitter": {"user_id": "u-1"},
            },
            "model_version",
            "names no model",
        ),
        # Timestamps RFC 3339 allows but a datetime cannot hold in UTC.
        ({**GOOD, "observed_at": "9999-12-31T23:59:59-01:00"}, "observed_at", "is not a valid"),
        ({**GOOD, "observed_at": "0001-01-01T00:00:00+01:00"}, "observed_at", "is not a valid"),
        ({**GOOD, "observed_at": "2025-11-23T02:27:03Z\n"}, "observed_at", "has an invalid"),
        # Wrong types at every level.
        ({**GOOD, "prediction": []}, "prediction", "must be an object"),
        (
            {**GOOD, "prediction": {"labels": {"Sports": 1}, "routed_to_review": False}},
            "prediction.labels",
            "must be an array",
        ),
        ({**GOOD, "submitter": {"user_id": ["u-1"]}}, "submitter.user_id", "must be a string"),
        ({**GOOD, "corrected_labels": "Sports"}, "corrected_labels", "must be an array"),
        ({**GOOD, "corrected_labels": [["Sports"]]}, "corrected_labels[0]", "must be a string"),
        (
            {
                **GOOD,
                "prediction": {
                    "labels": [{"label": "Sports", "score": True}],
                    "routed_to_review": False,
                },
            },
            "prediction.labels[0].score",
            "must be a number",
        ),
    ],
)
def test_hostile_bodies_are_400_naming_the_field(deployed, body, field, message):  # noqa: F811
    status, answer = call(NAME, "/feedback", body=body)
    assert status == 400, answer
    assert fields(answer) == [field], answer
    assert answer["errors"][0]["message"].startswith(message), answer
    assert feedback_objects() == []


def test_a_huge_array_is_answered_with_a_bounded_error_list(deployed):  # noqa: F811
    labels = [{"label": "Sports", "score": 0.5}] * 20_000
    body = {**GOOD, "prediction": {"labels": labels, "routed_to_review": False}}
    status, answer = call(NAME, "/feedback", body=body)
    assert status == 400, answer
    assert len(answer["errors"]) == 100 and answer["errors_truncated"] is True
    assert all(f.startswith("prediction.labels[") for f in fields(answer))


def test_a_body_over_the_limit_is_413(deployed):  # noqa: F811
    status, answer = call(NAME, "/feedback", body={**GOOD, "text": "é" * 600_000})
    assert status == 413 and fields(answer) == ["body"], answer


def test_a_version_that_served_before_is_known_from_the_registry(deployed, lambdas):  # noqa: F811
    create_registry_table(TABLE)
    Registry(boto3.client("dynamodb"), TABLE).record(
        "DOCUMENT_CLASSIFIER",
        "it-old",
        {"model_version": "agnews-test-0", "promoted_at": "2025-11-01T00:00:00.000Z"},
    )
    deploy_function(lambdas, "textloop-feedback-2", "feedback", _env(REGISTRY_TABLE=TABLE))
    status, answer = call(
        "textloop-feedback-2", "/feedback", body={**GOOD, "model_version": "agnews-test-0"}
    )
    assert status == 202, answer
    # ...and its labels are checked against the active model's (it has no label list).
    status, answer = call(
        "textloop-feedback-2",
        "/feedback",
        body={**GOOD, "model_version": "agnews-test-0", "corrected_labels": ["Weather"]},
    )
    assert status == 400 and fields(answer) == ["corrected_labels[0]"], answer
    status, answer = call(
        "textloop-feedback-2", "/feedback", body={**GOOD, "model_version": "agnews-test-9"}
    )
    assert status == 400 and fields(answer) == ["model_version"], answer
    assert len(feedback_objects()) == 1


def test_the_good_body_is_still_accepted(deployed):  # noqa: F811
    status, answer = call(NAME, "/feedback", body=json.dumps(GOOD))
    assert status == 202, answer

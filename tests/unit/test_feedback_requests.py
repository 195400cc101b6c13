"""POST /feedback bodies: accepted shapes, and errors that name the field at fault."""

from __future__ import annotations

import json

import pytest
from textloop.domain import feedback
from textloop.domain.validation import error_body, http_status

from .test_feedback_records import api_request


def errors_of(body, **kwargs):
    request, errors = feedback.parse_feedback_request(body, **kwargs)
    assert request is None
    return [e.as_tuple() for e in errors]


def test_accepts_a_json_string_body_and_defaults_model_type(now):
    body = api_request()
    del body["model_type"]
    request, errors = feedback.parse_feedback_request(json.dumps(body), now=now)
    assert errors == []
    assert request["model_type"] == "DOCUMENT_CLASSIFIER"
    record = feedback.build_explicit_api_record(request, now=now, request_id="abc")
    assert feedback.validate_record(record) == []
    record = record.to_dict()
    assert record["source"] == "explicit-api"
    assert record["origin"] == {"request_id": "abc"}
    # Labels are stored by descending score whatever order the client sent.
    assert [ls["label"] for ls in record["prediction"]["labels"]] == [
        "Business",
        "SciTech",
        "World",
    ]


def test_accepts_base64_decoded_bytes(now):
    request, errors = feedback.parse_feedback_request(json.dumps(api_request()).encode(), now=now)
    assert errors == [] and request["text"].startswith("Sony")


def test_like_without_correction_and_dislike_without_correction(now):
    for reason in ("like", "dislike"):
        body = api_request(reason=reason)
        del body["corrected_labels"]
        request, errors = feedback.parse_feedback_request(body, now=now)
        assert errors == []
        assert feedback.validate_record(feedback.build_explicit_api_record(request, now=now)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"text": ""}, [("text", "must not be empty or whitespace only")]),
        ({"text": "   \n"}, [("text", "must not be empty or whitespace only")]),
        ({"text": None}, [("text", "must be a string")]),
        ({"reason": "meh"}, [("reason", "must be one of: like, dislike")]),
        (
            {"corrected_labels": ["SciTech", "World"]},
            [
                (
                    "corrected_labels",
                    "must have at most 1 item(s) "
                    "(a MULTI_CLASS correction names exactly one label)",
                )
            ],
        ),
        (
            {"corrected_labels": ["Sci|Tech"]},
            [
                (
                    "corrected_labels[0]",
                    "has an invalid format (a label has no '|', no line breaks and no "
                    "surrounding whitespace)",
                )
            ],
        ),
        ({"mode": "SOMETIMES"}, [("mode", "must be one of: MULTI_CLASS, MULTI_LABEL")]),
        ({"submitter": {"user_id": ""}}, [("submitter.user_id", "must not be empty")]),
        ({"flavour": "vanilla"}, [("flavour", "is not allowed")]),
        (
            {"prediction": {"labels": [], "routed_to_review": False}},
            [("prediction.labels", "must have at least 1 item(s)")],
        ),
        (
            {
                "prediction": {
                    "labels": [{"label": "A", "score": "high"}],
                    "routed_to_review": False,
                }
            },
            [("prediction.labels[0].score", "must be a number")],
        ),
        (
            {
                "prediction": {
                    "labels": [{"label": "A", "score": 0.5}, {"label": "A", "score": 0.5}],
                    "routed_to_review": False,
                }
            },
            [("prediction.labels[1].label", "must not repeat a label")],
        ),
        ({"observed_at": "2099-01-01T00:00:00Z"}, [("observed_at", "must not be in the future")]),
        ({"observed_at": "2025-02-30T00:00:00Z"}, [("observed_at", "is not a valid date-time")]),
    ],
)
def test_rejections_name_the_field(now, change, expected):
    assert errors_of(api_request(**change), now=now) == expected


def test_missing_fields_are_each_named(now):
    assert sorted(errors_of({"text": "hello"}, now=now)) == [
        ("mode", "is required"),
        ("model_version", "is required"),
        ("prediction", "is required"),
        ("reason", "is required"),
        ("submitter", "is required"),
    ]


def test_body_that_is_not_an_object(now):
    assert errors_of("[1, 2]", now=now) == [("body", "must be a JSON object")]
    assert errors_of("{nope", now=now)[0][0] == "body"


def test_text_too_long_answers_413_with_the_limit(now):
    request, errors = feedback.parse_feedback_request(
        api_request(text="ü" * 6_000), now=now, max_text_bytes=10_000
    )
    assert request is None
    assert http_status(errors) == 413
    assert error_body(errors)["limit_bytes"] == 10_000
    assert errors[0].message == "is 12000 bytes of UTF-8; the model accepts at most 10000"


def test_lone_surrogate_from_json_escape_is_rejected(now):
    body = json.dumps(api_request()).replace("Sony", "So\\udc80ny")
    assert errors_of(body, now=now) == [
        ("text", "must be valid UTF-8 (invalid code point at character 2)")
    ]


def test_application_id_comes_from_the_caller_identity(now):
    request, errors = feedback.parse_feedback_request(
        api_request(submitter={"user_id": "alice", "application_id": "spoofed"}),
        application_id="from-api-key",
        now=now,
    )
    assert request is None
    assert [e.as_tuple() for e in errors] == [
        (
            "submitter.application_id",
            "must be the application of the API key the request was sent with, or left out",
        )
    ]
    request, errors = feedback.parse_feedback_request(
        api_request(submitter={"user_id": "alice", "application_id": "from-api-key"}),
        application_id="from-api-key",
        now=now,
    )
    assert errors == []
    assert request["submitter"] == {"user_id": "alice", "application_id": "from-api-key"}
    # ...and it satisfies the submitter requirement on its own.
    body = api_request()
    del body["submitter"]
    request, errors = feedback.parse_feedback_request(body, application_id="app-9", now=now)
    assert errors == [] and request["submitter"] == {"application_id": "app-9"}


def test_known_labels_are_enforced_when_given(now):
    assert errors_of(
        api_request(corrected_labels=["Sport"]),
        known_labels={"World", "Sports", "Business", "SciTech"},
        now=now,
    ) == [("corrected_labels[0]", "is not a label of the model (Business, SciTech, Sports, World)")]


def entity_request(**overrides):
    body = {
        "text": "AWS X-Ray supports analytics",
        "model_type": "ENTITY_RECOGNIZER",
        "model_version": "ner-3",
        "prediction": {
            "entities": [{"begin_offset": 0, "end_offset": 9, "type": "SERVICE", "score": 0.42}],
            "routed_to_review": True,
        },
        "reason": "dislike",
        "corrected_labels": [{"begin_offset": 4, "end_offset": 9, "type": "SERVICE"}],
        "submitter": {"user_id": "alice"},
    }
    body.update(overrides)
    return body


def test_entity_feedback_round_trip(now):
    request, errors = feedback.parse_feedback_request(entity_request(), now=now)
    assert errors == []
    record = feedback.build_explicit_api_record(request, now=now)
    assert feedback.validate_record(record) == []
    assert record.to_dict()["corrected_labels"] == [
        {"begin_offset": 4, "end_offset": 9, "type": "SERVICE"}
    ]


@pytest.mark.parametrize(
    ("corrected", "expected"),
    [
        (
            [{"begin_offset": 4, "end_offset": 40, "type": "SERVICE"}],
            [("corrected_labels[0].end_offset", "must be <= 28 (the length of text)")],
        ),
        (
            [{"begin_offset": 4, "end_offset": 4, "type": "SERVICE"}],
            [("corrected_labels[0].end_offset", "must be greater than begin_offset")],
        ),
        (
            [
                {"begin_offset": 0, "end_offset": 9, "type": "SERVICE"},
                {"begin_offset": 4, "end_offset": 12, "type": "SERVICE"},
            ],
            [("corrected_labels[1]", "overlaps corrected_labels[0]")],
        ),
        (
            ["SERVICE"],
            [
                (
                    "corrected_labels[0]",
                    "must be an object (entity recognisers have no mode and work on spans)",
                )
            ],
        ),
        (
            [{"begin_offset": 0, "end_offset": 3, "type": "A,B"}],
            [
                (
                    "corrected_labels[0].type",
                    "has an invalid format (an entity type has no comma, tab or line break)",
                )
            ],
        ),
    ],
)
def test_entity_span_errors(now, corrected, expected):
    assert errors_of(entity_request(corrected_labels=corrected), now=now) == expected


def test_entity_prediction_must_not_carry_labels(now):
    body = entity_request(
        prediction={"labels": [{"label": "SERVICE", "score": 0.5}], "routed_to_review": True}
    )
    assert errors_of(body, now=now) == [
        ("prediction.entities", "is required"),
        ("prediction.labels", "is not allowed (entity recognisers have no mode and work on spans)"),
    ]

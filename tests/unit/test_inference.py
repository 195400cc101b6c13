"""The classify path without AWS: request parsing, prediction, routing, implicit record, and
the answer a client echoes back to POST /feedback."""

from __future__ import annotations

import json

import pytest
from textloop.domain import feedback, inference, local_model
from textloop.domain.thresholds import Thresholds
from textloop.domain.validation import InvalidInput, http_status


def test_parse_classify_request_defaults_model_type():
    request, errors = inference.parse_classify_request('{"text": "Cup final tonight"}')
    assert errors == []
    assert request == {"text": "Cup final tonight", "model_type": "DOCUMENT_CLASSIFIER"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"text": ""}', [("text", "must not be empty or whitespace only")]),
        (
            '{"text": "x", "model_type": "SENTIMENT"}',
            [("model_type", "must be one of: DOCUMENT_CLASSIFIER, ENTITY_RECOGNIZER")],
        ),
        ('{"text": "x", "lang": "en"}', [("lang", "is not allowed")]),
        ('{"txt": "x"}', [("text", "is required"), ("txt", "is not allowed")]),
        ('"just a string"', [("body", "must be a JSON object")]),
        (b"\xff\xfe", [("body", "must be valid UTF-8 (invalid byte at offset 0)")]),
    ],
)
def test_parse_classify_request_errors(body, expected):
    request, errors = inference.parse_classify_request(body)
    assert request is None
    assert sorted(e.as_tuple() for e in errors) == sorted(expected)
    assert http_status(errors) == 400


def test_classify_request_too_long_is_413():
    body = json.dumps({"text": "€" * 3_334})  # 10,002 bytes
    request, errors = inference.parse_classify_request(body)
    assert request is None and http_status(errors) == 413
    assert errors[0].limit_bytes == 10_000


def test_confident_prediction_is_answered_without_feedback(ag_news_model, now):
    backend = local_model.LocalBackend(ag_news_model)
    outcome = inference.classify(
        "The striker scored twice as the home team won the league title",
        backend,
        Thresholds(default=0.05),
        now=now,
    )
    assert outcome.record is None and not outcome.decision.routed
    answer = inference.classify_response(outcome)
    assert answer["predicted_labels"] == ["Sports"]
    assert answer["prediction"]["routed_to_review"] is False
    assert "feedback_id" not in answer


def test_doubtful_prediction_becomes_implicit_feedback_and_the_answer_round_trips(
    ag_news_model, now
):
    backend = local_model.LocalBackend(ag_news_model)
    text = "Company shares jump after new phone launch in Europe"
    outcome = inference.classify(text, backend, Thresholds(default=0.99), now=now, request_id="r1")
    assert outcome.decision.routed
    assert feedback.validate_record(outcome.record) == []
    record = outcome.record.to_dict()
    assert record["source"] == "implicit" and record["reason"] == "below_threshold"
    assert record["thresholds"]["default"] == 0.99
    answer = inference.classify_response(outcome)
    assert answer["feedback_id"] == record["id"]
    assert answer["model_version"] == "agnews-test-1" and answer["mode"] == "MULTI_CLASS"
    # The client echoes the answer's model fields into POST /feedback unchanged.
    body = {
        "text": text,
        **{k: answer[k] for k in ("model_type", "mode", "model_version", "prediction")},
        "reason": "dislike",
        "corrected_labels": ["SciTech"],
        "submitter": {"user_id": "alice"},
    }
    request, errors = feedback.parse_feedback_request(json.dumps(body), now=now)
    assert errors == []
    explicit = feedback.build_explicit_api_record(request, now=now)
    assert explicit.to_dict()["prediction"]["labels"] == record["prediction"]["labels"]


def test_classify_refuses_text_the_backend_cannot_take(ag_news_model, now):
    backend = local_model.LocalBackend(ag_news_model, max_text_bytes=20)
    with pytest.raises(InvalidInput) as raised:
        inference.classify("a" * 21, backend, Thresholds(), now=now)
    assert raised.value.errors[0].limit_bytes == 20

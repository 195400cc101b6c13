"""Feedback records: the stable id, keys, bytes and schema validity of every builder."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from textloop.domain import feedback, layout
from textloop.domain.feedback import FeedbackRecord
from textloop.domain.hashing import canonical_json
from textloop.domain.predictions import EntitySpan, LabelScore, Prediction
from textloop.domain.thresholds import Thresholds, route
from textloop.domain.timestamps import format_timestamp, parse_timestamp
from textloop.domain.validation import InvalidInput


def legacy_key(record: FeedbackRecord) -> str:
    """Where a record lived on its own before the buffered intake (such objects are still read
    once, by the first incremental iteration)."""
    return layout.feedback_record_key(record.id, record.model_version, record.observed_at)


TEXT = "Sony Embraces MP3 in Ploy To Please Public"


def classifier_prediction(top: float = 0.41) -> Prediction:
    rest = (1 - top) / 3
    return Prediction(
        model_type="DOCUMENT_CLASSIFIER",
        model_version="v7",
        mode="MULTI_CLASS",
        labels=(
            LabelScore("World", rest),
            LabelScore("SciTech", top),
            LabelScore("Business", rest),
            LabelScore("Sports", rest),
        ),
    )


def api_request(**overrides):
    request = {
        "text": TEXT,
        "model_type": "DOCUMENT_CLASSIFIER",
        "mode": "MULTI_CLASS",
        "model_version": "v7",
        "prediction": {
            "labels": [
                {"label": "Business", "score": 0.6},
                {"label": "SciTech", "score": 0.3},
                {"label": "World", "score": 0.1},
            ],
            "routed_to_review": False,
        },
        "reason": "dislike",
        "corrected_labels": ["SciTech"],
        "submitter": {"user_id": "alice", "application_id": "news-app"},
    }
    request.update(overrides)
    return request


def build_api(now, **overrides):
    request, errors = feedback.parse_feedback_request(api_request(**overrides), now=now)
    assert errors == []
    return feedback.build_explicit_api_record(request, now=now)


def documented_id(stored: FeedbackRecord) -> str:
    """The id rule as written in the schema's description, implemented independently."""
    record = stored.to_dict()
    prediction = record.get("prediction")
    if prediction is None:
        predicted = None
    elif record["model_type"] == "ENTITY_RECOGNIZER":
        predicted = sorted(
            [e["begin_offset"], e["end_offset"], e["type"]] for e in prediction["entities"]
        )
    else:
        predicted = prediction["labels"][0]["label"]
    corrected = record.get("corrected_labels")
    if corrected is not None and record["model_type"] == "ENTITY_RECOGNIZER":
        corrected = sorted([s["begin_offset"], s["end_offset"], s["type"]] for s in corrected)
    elif corrected is not None:
        corrected = sorted(corrected)
    submitter = record.get("submitter")
    canonical = {
        "v": 1,
        "text": record["text"],
        "model_type": record["model_type"],
        "model_version": record.get("model_version"),
        "predicted": predicted,
        "reason": record["reason"],
        "corrected": corrected,
        "submitter": [submitter.get("user_id"), submitter.get("application_id")]
        if submitter
        else None,
    }
    encoded = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- id


def test_id_follows_the_documented_rule(now):
    record = build_api(now)
    assert record.id == documented_id(record)
    entity_request = {
        "text": "Amazon S3 and AWS Lambda",
        "model_type": "ENTITY_RECOGNIZER",
        "model_version": "ner-3",
        "prediction": {
            "entities": [
                {"begin_offset": 14, "end_offset": 24, "type": "SERVICE", "score": 0.9},
                {"begin_offset": 0, "end_offset": 9, "type": "SERVICE", "score": 0.4},
            ],
            "routed_to_review": True,
        },
        "reason": "dislike",
        "corrected_labels": [
            {"begin_offset": 14, "end_offset": 24, "type": "SERVICE"},
            {"begin_offset": 0, "end_offset": 6, "type": "VENDOR"},
        ],
        "submitter": {"user_id": "alice"},
    }
    request, errors = feedback.parse_feedback_request(entity_request, now=now)
    assert errors == []
    entity = feedback.build_explicit_api_record(request, now=now)
    assert feedback.validate_record(entity) == []
    assert entity.id == documented_id(entity)


def test_retried_api_call_gives_the_same_id_and_key(now):
    clicked = "2025-11-23T23:59:59.100+00:00"
    first = build_api(datetime(2025, 11, 23, 23, 59, 59, 500000, tzinfo=UTC), observed_at=clicked)
    # The client retries after a timeout; the retry lands after midnight.
    retry = build_api(datetime(2025, 11, 24, 0, 0, 29, tzinfo=UTC), observed_at=clicked)
    assert retry.id == first.id
    assert legacy_key(retry) == legacy_key(first)
    assert retry.created_at != first.created_at


def test_scores_and_timestamps_do_not_split_duplicates(now):
    a = build_api(now)
    noisy = api_request()
    noisy["prediction"]["labels"][0]["score"] = 0.6000001
    request, _ = feedback.parse_feedback_request(noisy, now=now)
    b = feedback.build_explicit_api_record(request, now=now + timedelta(hours=1), request_id="r-2")
    assert a.id == b.id


@pytest.mark.parametrize(
    "change",
    [
        {"submitter": {"user_id": "bob", "application_id": "news-app"}},
        {"submitter": {"user_id": "alice", "application_id": "other-app"}},
        {"submitter": {"user_id": "alice"}},
        {"corrected_labels": ["World"]},
        {"reason": "like", "corrected_labels": ["Business"]},
        {"model_version": "v8"},
        {"text": TEXT + "!"},
    ],
)
def test_different_statements_get_different_ids(now, change):
    assert build_api(now).id != build_api(now, **change).id


def test_two_users_correcting_the_same_text_do_not_collapse(now):
    alice = build_api(now, submitter={"user_id": "alice"})
    bob = build_api(now, submitter={"user_id": "bob"})
    assert alice.id != bob.id
    assert legacy_key(alice) != legacy_key(bob)


def test_multi_label_correction_order_does_not_matter(now):
    base = {
        "mode": "MULTI_LABEL",
        "prediction": {
            "labels": [{"label": "toxic", "score": 0.55}, {"label": "insult", "score": 0.45}],
            "routed_to_review": True,
        },
    }
    a = build_api(now, **base, corrected_labels=["toxic", "insult"])
    b = build_api(now, **base, corrected_labels=["insult", "toxic"])
    assert a.id == b.id


def test_same_statement_through_api_and_batch_is_one_piece_of_feedback(now):
    api = build_api(now, reason="dislike")
    batch = feedback.build_batch_record(
        text=TEXT,
        corrected_labels=["SciTech"],
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        submitter={"user_id": "alice", "application_id": "news-app"},
        origin={"bucket": "lake-bucket", "key": "uploads/x.jsonl", "line": 3},
        observed_at=now,
        created_at=now,
    )
    # Not the same: a batch line is a "correction" without a prediction, an API call a
    # "dislike" of a prediction. The id separates what was said, not how it arrived.
    assert batch.id != api.id
    again = feedback.build_batch_record(
        text=TEXT,
        corrected_labels=["SciTech"],
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        submitter={"user_id": "alice", "application_id": "news-app"},
        origin={"bucket": "lake-bucket", "key": "uploads/other.csv", "line": 99},
        observed_at=now + timedelta(days=2),
        created_at=now + timedelta(days=2),
    )
    assert again.id == batch.id


# --------------------------------------------------------------------------- builders


def test_implicit_record_is_valid_and_keyed_by_model_and_date(now):
    prediction = classifier_prediction(top=0.41)
    thresholds = Thresholds()
    decision = route(prediction, thresholds)
    record = feedback.build_implicit_record(
        text=TEXT,
        prediction=prediction,
        decision=decision,
        thresholds=thresholds,
        observed_at=now,
        request_id="req-1",
    )
    assert feedback.validate_record(record) == []
    assert legacy_key(record) == f"feedback/model_version=v7/dt=2025-11-23/{record.id}.json"
    record = record.to_dict()
    assert record["source"] == "implicit"
    assert record["reason"] == "below_threshold"
    assert record["prediction"]["labels"][0] == {"label": "SciTech", "score": 0.41}
    assert record["prediction"]["routed_to_review"] is True
    assert record["thresholds"] == {"default": 0.5, "per_label": {}, "band": 0.1}
    assert record["origin"] == {"request_id": "req-1"}
    assert record["observed_at"] == "2025-11-23T02:27:03.324Z"
    assert "submitter" not in record and "corrected_labels" not in record


def test_only_routed_predictions_become_implicit_feedback(now):
    prediction = classifier_prediction(top=0.9)
    with pytest.raises(ValueError, match="routed"):
        feedback.build_implicit_record(
            text=TEXT,
            prediction=prediction,
            decision=route(prediction, Thresholds()),
            thresholds=Thresholds(),
            observed_at=now,
        )


def test_implicit_entity_record(now):
    text = "Release: Amazon GameLift on 2019-04-25"
    prediction = Prediction(
        model_type="ENTITY_RECOGNIZER",
        model_version="ner-3",
        mode=None,
        entities=(EntitySpan(9, 24, "SERVICE", 0.93), EntitySpan(28, 38, "VERSION", 0.31)),
    )
    thresholds = Thresholds()
    record = feedback.build_implicit_record(
        text=text,
        prediction=prediction,
        decision=route(prediction, thresholds),
        thresholds=thresholds,
        observed_at=now,
    )
    assert feedback.validate_record(record) == []
    assert record.mode is None and "mode" not in record.to_dict()
    assert record.to_dict()["prediction"]["entities"][1] == {
        "begin_offset": 28,
        "end_offset": 38,
        "type": "VERSION",
        "score": 0.31,
    }


def test_batch_record_without_prediction_goes_to_the_null_partition(now):
    record = feedback.build_batch_record(
        text=TEXT,
        corrected_labels=None,
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        submitter={"application_id": "app"},
        origin={"bucket": "lake-bucket", "key": "uploads/x.json", "item_index": 0},
        observed_at=now,
        created_at=now,
    )
    assert feedback.validate_record(record) == []
    assert record.reason == "review_requested"
    assert legacy_key(record).startswith(
        "feedback/model_version=__HIVE_DEFAULT_PARTITION__/dt=2025-11-23/"
    )


# --------------------------------------------------------------------------- bytes, validation


def test_record_bytes_are_canonical_json_lines(now):
    record = build_api(now)
    data = record.to_json()
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data) == record.to_dict()
    assert FeedbackRecord.from_json(data) == record
    shuffled = dict(reversed(list(record.to_dict().items())))
    assert canonical_json(shuffled) + b"\n" == data


def test_non_ascii_text_is_stored_as_utf8_not_escaped(now):
    text = "Zürich café \u2013 東京"
    record = build_api(now, text=text)
    assert text.encode() in record.to_json()


def test_validate_record_names_tampered_fields(now):
    record = build_api(now).to_dict()
    assert feedback.validate_record({**record, "id": "0" * 64}) == [
        feedback.FieldError("id", "does not match the record's content")
    ]
    errors = feedback.validate_record({**record, "source": "implicit"})
    fields = {e.field for e in errors}
    assert {"reason", "submitter", "thresholds", "corrected_labels"} <= fields
    bad_time = feedback.validate_record({**record, "observed_at": "2025-11-23 02:27"})
    assert [e.field for e in bad_time] == ["observed_at"]
    no_such_day = {**record, "created_at": "2025-02-30T00:00:00.000Z"}
    assert [e.as_tuple() for e in feedback.validate_record(no_such_day)] == [
        ("created_at", "is not a valid date-time")
    ]


def test_validate_record_checks_spans_against_the_text(now):
    record = feedback.build_batch_record(
        text="AWS X-Ray",
        corrected_labels=[{"begin_offset": 0, "end_offset": 12, "type": "SERVICE"}],
        model_type="ENTITY_RECOGNIZER",
        mode=None,
        submitter={"user_id": "u"},
        origin={"bucket": "lake-bucket", "key": "uploads/x.jsonl", "line": 1},
        observed_at=now,
        created_at=now,
    )
    assert [e.as_tuple() for e in feedback.validate_record(record)] == [
        ("corrected_labels[0].end_offset", "must be <= 9 (the length of text)")
    ]


def test_builders_refuse_to_produce_invalid_records(now):
    prediction = classifier_prediction(top=0.2)
    with pytest.raises(InvalidInput) as raised:
        feedback.build_implicit_record(
            text="x" * 10_001,
            prediction=prediction,
            decision=route(prediction, Thresholds()),
            thresholds=Thresholds(),
            observed_at=now,
        )
    assert raised.value.errors[0].field == "text"


def test_timestamps_are_utc_with_milliseconds():
    moment = datetime(2025, 1, 2, 3, 4, 5, 678999, tzinfo=UTC)
    assert format_timestamp(moment) == "2025-01-02T03:04:05.678Z"
    assert parse_timestamp("2025-01-02T05:04:05+02:00") == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert format_timestamp("2025-01-02T05:04:05.6789+02:00") == "2025-01-02T03:04:05.678Z"
    with pytest.raises(ValueError):
        format_timestamp(datetime(2025, 1, 2))  # naive: which zone?
    with pytest.raises(ValueError):
        parse_timestamp("2025-01-02T05:04:05")

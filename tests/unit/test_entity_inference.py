"""Detection traffic as implicit feedback: POST /classify with an entity recogniser routes a text
to review when its least confident entity is below its type's threshold (0.9 unless configured),
and the answer carries the spans a client echoes in POST /feedback."""

from __future__ import annotations

from collections.abc import Sequence

import boto3
import pytest
from textloop.adapters.active_model import (
    ActiveModelPointer,
    ActiveModelPointerStore,
    ActiveModelProvider,
    pointer_parameter_name,
)
from textloop.adapters.comprehend_endpoint import ComprehendBackend, client_config
from textloop.domain import feedback, inference
from textloop.domain.backends import ModelBackend
from textloop.domain.names import DEFAULT_MAX_TEXT_BYTES
from textloop.domain.predictions import EntitySpan, Prediction
from textloop.domain.thresholds import (
    Thresholds,
    default_thresholds,
    override_for,
    parse_override,
    resolve_thresholds,
)

from tests.support import aws_examples

TEXT = "AWS Lambda 2.0 is out"


class FixedSpans:
    """A test double of an entity recogniser: the same spans for every text (the routing rule
    is under test, not a model)."""

    model_type = "ENTITY_RECOGNIZER"
    mode = None
    model_version = "ner-3"
    max_text_bytes = DEFAULT_MAX_TEXT_BYTES

    def __init__(self, spans: Sequence[EntitySpan], thresholds=None):
        self.spans = tuple(spans)
        self.thresholds = thresholds
        self.calls: list[list[str]] = []

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        self.calls.append(list(texts))
        return [
            Prediction(self.model_type, self.model_version, None, entities=self.spans)
            for _ in texts
        ]


SERVICE = EntitySpan(0, 10, "SERVICE", 0.97)
VERSION_SURE = EntitySpan(11, 14, "VERSION", 0.95)
VERSION_DOUBTFUL = EntitySpan(11, 14, "VERSION", 0.62)


def test_the_double_is_a_model_backend():
    assert isinstance(FixedSpans([]), ModelBackend)


def test_a_confident_detection_is_answered_with_its_spans_and_no_feedback(now):
    backend = FixedSpans([VERSION_SURE, SERVICE])
    thresholds = resolve_thresholds(model_type="ENTITY_RECOGNIZER")
    outcome = inference.classify(TEXT, backend, thresholds, now=now, request_id="r-1")
    assert backend.calls == [[TEXT]]
    assert not outcome.decision.routed and outcome.record is None
    answer = inference.classify_response(outcome)
    expected = [
        {"begin_offset": 0, "end_offset": 10, "type": "SERVICE", "score": 0.97},
        {"begin_offset": 11, "end_offset": 14, "type": "VERSION", "score": 0.95},
    ]
    assert answer["entities"] == expected  # by offset
    assert answer["prediction"] == {"routed_to_review": False, "entities": expected}
    assert answer["predicted_labels"] == ["SERVICE", "VERSION"]
    assert "mode" not in answer and "feedback_id" not in answer
    assert answer["model_type"] == "ENTITY_RECOGNIZER" and answer["model_version"] == "ner-3"


def test_the_least_confident_entity_below_its_threshold_makes_implicit_feedback(now):
    backend = FixedSpans([SERVICE, VERSION_DOUBTFUL])
    thresholds = resolve_thresholds(model_type="ENTITY_RECOGNIZER")
    outcome = inference.classify(
        TEXT, backend, thresholds, now=now, request_id="r-2", application_id="news-app"
    )
    assert outcome.decision.routed and outcome.decision.uncertain == ("VERSION",)
    record = outcome.record
    assert record is not None and feedback.validate_record(record) == []
    stored = record.to_dict()
    assert (stored["source"], stored["reason"]) == ("implicit", "below_threshold")
    assert stored["thresholds"] == {"default": 0.9, "per_label": {}, "band": 0.1}
    assert stored["prediction"]["entities"][1]["score"] == 0.62
    assert stored["origin"] == {"request_id": "r-2", "application_id": "news-app"}
    answer = inference.classify_response(outcome)
    assert answer["feedback_id"] == record.id and answer["prediction"]["routed_to_review"]
    # The client echoes the answer in POST /feedback: it parses as an entity request.
    request, errors = feedback.parse_feedback_request(
        {
            "text": TEXT,
            "model_type": answer["model_type"],
            "model_version": answer["model_version"],
            "prediction": answer["prediction"],
            "reason": "dislike",
            "corrected_labels": [
                {"begin_offset": 0, "end_offset": 10, "type": "SERVICE"},
                {"begin_offset": 11, "end_offset": 14, "type": "VERSION"},
            ],
            "submitter": {"user_id": "u-1"},
        },
        known_labels={"SERVICE", "VERSION"},
        now=now,
    )
    assert errors == [] and request["model_type"] == "ENTITY_RECOGNIZER"


def test_thresholds_are_per_type(now):
    backend = FixedSpans([SERVICE, VERSION_DOUBTFUL])
    lenient = resolve_thresholds({"per_label": {"VERSION": 0.6}}, model_type="ENTITY_RECOGNIZER")
    assert not inference.classify(TEXT, backend, lenient, now=now).decision.routed
    strict = resolve_thresholds(
        {"default": 0.5, "per_label": {"SERVICE": 0.99}}, model_type="ENTITY_RECOGNIZER"
    )
    decision = inference.classify(TEXT, backend, strict, now=now).decision
    assert decision.routed and decision.uncertain == ("SERVICE",)  # VERSION: 0.62 >= 0.5
    # A text where the model found nothing has no score to doubt.
    assert not inference.classify(TEXT, FixedSpans([]), strict, now=now).decision.routed


def test_defaults_per_model_type_and_the_metadata_path():
    assert default_thresholds("ENTITY_RECOGNIZER").default == 0.9
    assert default_thresholds("DOCUMENT_CLASSIFIER").default == 0.5
    assert resolve_thresholds(None, None, model_type="ENTITY_RECOGNIZER").default == 0.9
    assert resolve_thresholds(None, None).default == 0.5
    # A model writing its thresholds into metadata starts from its type's defaults.
    written = Thresholds.from_dict({"per_label": {"VERSION": 0.8}}, model_type="ENTITY_RECOGNIZER")
    assert written.to_dict() == {"default": 0.9, "per_label": {"VERSION": 0.8}, "band": 0.1}
    assert Thresholds.from_dict(None).default == 0.5


def test_an_override_may_name_each_model_type():
    keyed = parse_override(
        '{"ENTITY_RECOGNIZER": {"per_label": {"VERSION": 0.95}}, '
        '"DOCUMENT_CLASSIFIER": {"default": 0.6}}'
    )
    assert override_for(keyed, "ENTITY_RECOGNIZER") == {"per_label": {"VERSION": 0.95}}
    assert override_for(keyed, "DOCUMENT_CLASSIFIER") == {"default": 0.6}
    flat = parse_override('{"default": 0.7}')
    assert override_for(flat, "ENTITY_RECOGNIZER") == {"default": 0.7}
    assert override_for(parse_override('{"DOCUMENT_CLASSIFIER": {}}'), "ENTITY_RECOGNIZER") is None
    assert override_for(None, "ENTITY_RECOGNIZER") is None
    for bad in (
        '{"ENTITY_RECOGNIZER": {"default": 2}}',
        '{"ENTITY_RECOGNIZER": {}, "default": 0.5}',
        '{"ENTITY_RECOGNIZER": 0.5}',
        '{"ENTITY_RECOGNIZER": {"dfault": 0.5}}',
    ):
        with pytest.raises(ValueError):
            parse_override(bad)


def test_the_serving_provider_resolves_an_entity_models_thresholds(aws):
    ssm = boto3.client("ssm", region_name="us-east-1")
    store = ActiveModelPointerStore(ssm, pointer_parameter_name("/t", "ENTITY_RECOGNIZER"))
    store.put(
        ActiveModelPointer(
            model_version="ner-3",
            backend="comprehend",
            model_type="ENTITY_RECOGNIZER",
            endpoint_arn="arn:aws:comprehend:us-east-1:123456789012:entity-recognizer-endpoint/n",
            thresholds={"per_label": {"SERVICE": 0.8}},
        )
    )
    metadata = {"per_label": {"VERSION": 0.7, "SERVICE": 0.6}}
    override = parse_override('{"DOCUMENT_CLASSIFIER": {"default": 0.1}}')
    provider = ActiveModelProvider(
        store, lambda pointer: FixedSpans([], metadata), threshold_override=override
    )
    thresholds = provider.current().thresholds
    # Type default 0.9 (the classifier's override does not apply), metadata, then the pointer.
    assert thresholds.to_dict() == {
        "default": 0.9,
        "per_label": {"VERSION": 0.7, "SERVICE": 0.8},
        "band": 0.1,
    }


def test_detection_on_a_comprehend_endpoint_routes_the_doubtful_text(now):
    arn = "arn:aws:comprehend:us-east-1:123456789012:entity-recognizer-endpoint/services"
    client = boto3.client("comprehend", region_name="us-east-1", config=client_config())
    text = "Release: Amazon GameLift on 2019-04-25"
    with aws_examples.stubber(client) as stub:
        # The CLI's detect-entities example, with a custom recogniser's types on our text.
        stub.add_response(
            "detect_entities",
            aws_examples.response(
                "comprehend/detect-entities",
                Entities=[
                    {
                        "Score": 0.9731,
                        "Type": "SERVICE",
                        "Text": "Amazon GameLift",
                        "BeginOffset": 9,
                        "EndOffset": 24,
                    },
                    {
                        "Score": 0.8114,
                        "Type": "VERSION",
                        "Text": "2019-04-25",
                        "BeginOffset": 28,
                        "EndOffset": 38,
                    },
                ],
            ),
            {"Text": text, "EndpointArn": arn},
        )
        backend = ComprehendBackend(
            client,
            endpoint_arn=arn,
            model_type="ENTITY_RECOGNIZER",
            mode=None,
            model_version="ner-3",
        )
        outcome = inference.classify(
            text, backend, resolve_thresholds(model_type="ENTITY_RECOGNIZER"), now=now
        )
    # 0.81 is below the entity default 0.9 (it would pass a classifier's 0.5).
    assert outcome.decision.routed and outcome.decision.uncertain == ("VERSION",)
    answer = inference.classify_response(outcome)
    assert [(e["begin_offset"], e["end_offset"], e["type"]) for e in answer["entities"]] == [
        (9, 24, "SERVICE"),
        (28, 38, "VERSION"),
    ]
    assert text[9:24] == "Amazon GameLift" and text[28:38] == "2019-04-25"
    assert feedback.validate_record(outcome.record) == []

"""The Comprehend back-end against botocore's Stubber (real response shapes) and the real
retry path. Stubber answers before botocore's retry handler runs (checked), so the
throttle-then-succeed test feeds raw HTTP responses through the ``before-send`` event instead:
that exercises the actual retry configuration."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from textloop.adapters.comprehend_endpoint import ComprehendBackend, client_config
from textloop.domain.backends import (
    BackendError,
    BackendThrottled,
    BackendUnavailable,
    ModelBackend,
)
from textloop.domain.validation import InvalidInput

from tests.support import aws_examples

CLASSIFIER_ARN = "arn:aws:comprehend:us-east-1:123456789012:document-classifier-endpoint/news"
# A flywheel's active endpoint is an ordinary classifier endpoint ARN.
FLYWHEEL_ARN = "arn:aws:comprehend:us-east-1:123456789012:document-classifier-endpoint/news-fw"
RECOGNIZER_ARN = "arn:aws:comprehend:us-east-1:123456789012:entity-recognizer-endpoint/services"


@pytest.fixture
def comprehend():
    return aws_examples.check_requests(
        boto3.client("comprehend", region_name="us-east-1", config=client_config())
    )


def backend(client, arn=CLASSIFIER_ARN, model_type="DOCUMENT_CLASSIFIER", mode="MULTI_CLASS"):
    return ComprehendBackend(
        client, endpoint_arn=arn, model_type=model_type, mode=mode, model_version="news-v3"
    )


def test_multi_class_classes(comprehend):
    text = "Stocks rally as the Fed cuts rates"
    with aws_examples.stubber(comprehend) as stub:
        # The CLI's classify-document example, with this classifier's classes.
        stub.add_response(
            "classify_document",
            aws_examples.response(
                "comprehend/classify-document",
                Classes=[
                    {"Name": "World", "Score": 0.08},
                    {"Name": "Business", "Score": 0.89},
                    {"Name": "SciTech", "Score": 0.02},
                    {"Name": "Sports", "Score": 0.01},
                ],
            ),
            {"Text": text, "EndpointArn": FLYWHEEL_ARN},
        )
        (prediction,) = backend(comprehend, arn=FLYWHEEL_ARN).predict([text])
    assert isinstance(backend(comprehend), ModelBackend)
    assert prediction.model_version == "news-v3" and prediction.mode == "MULTI_CLASS"
    assert [(ls.label, ls.score) for ls in prediction.labels] == [
        ("Business", 0.89),
        ("World", 0.08),
        ("SciTech", 0.02),
        ("Sports", 0.01),
    ]


def test_multi_label_labels(comprehend):
    with aws_examples.stubber(comprehend) as stub:
        # A multi-label classifier answers Labels instead of Classes (ClassifyDocument's
        # response in the API reference; the CLI page shows a multi-class one).
        stub.add_response(
            "classify_document",
            aws_examples.response(
                "comprehend/classify-document",
                Classes=aws_examples.DROP,
                Labels=[{"Name": "toxic", "Score": 0.62}, {"Name": "insult", "Score": 0.71}],
            ),
            {"Text": "you fool", "EndpointArn": CLASSIFIER_ARN},
        )
        (prediction,) = backend(comprehend, mode="MULTI_LABEL").predict(["you fool"])
    assert [ls.label for ls in prediction.labels] == ["insult", "toxic"]
    assert prediction.mode == "MULTI_LABEL"


def test_a_multi_class_answer_to_a_multi_label_backend_is_a_configuration_error(comprehend):
    with aws_examples.stubber(comprehend) as stub:
        stub.add_response(
            "classify_document",
            aws_examples.response(
                "comprehend/classify-document", Classes=[{"Name": "A", "Score": 1.0}]
            ),
        )
        with pytest.raises(BackendError, match="without Labels"):
            backend(comprehend, mode="MULTI_LABEL").predict(["x"])


def test_entities_without_language_code(comprehend):
    text = "Release: Amazon GameLift on 2019-04-25"
    with aws_examples.stubber(comprehend) as stub:
        # The CLI's detect-entities example, with a custom recogniser's types on our text.
        stub.add_response(
            "detect_entities",
            aws_examples.response(
                "comprehend/detect-entities",
                Entities=[
                    {
                        "Score": 0.41,
                        "Type": "VERSION",
                        "Text": "2019-04-25",
                        "BeginOffset": 28,
                        "EndOffset": 38,
                    },
                    {
                        "Score": 0.97,
                        "Type": "SERVICE",
                        "Text": "Amazon GameLift",
                        "BeginOffset": 9,
                        "EndOffset": 24,
                    },
                ],
            ),
            {"Text": text, "EndpointArn": RECOGNIZER_ARN},  # exact: no LanguageCode
        )
        (prediction,) = backend(
            comprehend, arn=RECOGNIZER_ARN, model_type="ENTITY_RECOGNIZER", mode=None
        ).predict([text])
    assert prediction.mode is None and prediction.labels == ()
    assert [(e.begin_offset, e.end_offset, e.type, e.score) for e in prediction.entities] == [
        (9, 24, "SERVICE", 0.97),
        (28, 38, "VERSION", 0.41),
    ]
    assert text[9:24] == "Amazon GameLift"


@pytest.mark.parametrize(
    ("code", "status", "raised"),
    [
        ("ThrottlingException", 400, BackendThrottled),
        ("TooManyRequestsException", 400, BackendThrottled),
        ("ResourceUnavailableException", 400, BackendUnavailable),
        ("InternalServerException", 500, BackendError),
    ],
)
def test_errors_after_retries_map_to_backend_errors(comprehend, code, status, raised):
    with aws_examples.stubber(comprehend) as stub:
        stub.add_client_error("classify_document", service_error_code=code, http_status_code=status)
        with pytest.raises(raised):
            backend(comprehend).predict(["x"])


def test_too_long_text_is_refused_before_any_call(comprehend):
    # No responses queued: a call would fail the test.
    with aws_examples.stubber(comprehend), pytest.raises(InvalidInput) as raised:
        backend(comprehend).predict(["é" * 5_001])
    assert raised.value.errors[0].limit_bytes == 10_000


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data

    def read(self, *_):
        return self._data


def test_throttling_then_success_is_retried_by_botocore():
    client = aws_examples.check_requests(
        boto3.client("comprehend", region_name="us-east-1", config=client_config())
    )
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    sent = []

    def respond(request, **_):
        sent.append(json.loads(request.body))
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if len(sent) == 1:
            body = {"__type": "ThrottlingException", "Message": "Rate exceeded"}
            return AWSResponse(request.url, 400, headers, _Body(json.dumps(body).encode()))
        # On the wire: the CLI's classify-document example, with this classifier's classes.
        body = aws_examples.example("comprehend/classify-document").copy()
        body["Classes"] = [{"Name": "Sports", "Score": 0.93}, {"Name": "World", "Score": 0.07}]
        # No Stubber on this path: the response is held to botocore's model here instead.
        aws_examples.validate_response("comprehend", "ClassifyDocument", body)
        return AWSResponse(request.url, 200, headers, _Body(json.dumps(body).encode()))

    client.meta.events.register("before-send.comprehend.ClassifyDocument", respond)
    (prediction,) = backend(client).predict(["Cup final tonight"])
    assert prediction.top.label == "Sports"
    assert len(sent) == 2
    assert sent[0] == sent[1] == {"Text": "Cup final tonight", "EndpointArn": CLASSIFIER_ARN}


def test_constructor_rejects_inconsistent_settings(comprehend):
    with pytest.raises(ValueError):
        backend(comprehend, mode=None)
    with pytest.raises(ValueError):
        backend(comprehend, arn=RECOGNIZER_ARN, model_type="ENTITY_RECOGNIZER", mode="MULTI_CLASS")

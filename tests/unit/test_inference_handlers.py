"""classify, feedback and batch_feedback handlers, run in-process against moto."""

import gzip
import json

import boto3
import pytest
from textloop.adapters.active_model import (
    ActiveModelPointer,
    ActiveModelPointerStore,
    pointer_parameter_name,
)
from textloop.adapters.artefacts import ModelArtefactStore
from textloop.domain import local_model

from tests.support import DATA
from tests.support.events import CLIENT_APPLICATIONS, rest_event, s3_put_event
from tests.support.stack import (
    create_bucket,
    create_feedback_queue,
    deploy_function,
    drain_feedback_queue,
    queued_bodies,
)

BUCKET = "textloop-test-data-lake"
PREFIX = "/textloop/test"
SPORTS = (
    "The striker scored twice in the second half as the home side won the league title, "
    "and the coach praised the defence after the final whistle at the packed stadium."
)


def _env(**extra):
    return {
        "DATA_LAKE_BUCKET": BUCKET,
        "ACTIVE_MODEL_PARAMETER_PREFIX": PREFIX,
        "STAGE": "test",
        "CLIENT_APPLICATIONS": CLIENT_APPLICATIONS,
        # Created where the function is deployed (create_queue of an existing queue answers its
        # URL), as Terraform gives every producer the queue's URL.
        "FEEDBACK_QUEUE_URL": create_feedback_queue(),
        **extra,
    }


@pytest.fixture
def deployed(lambdas, ag_news_model):
    create_bucket(BUCKET)
    s3 = boto3.client("s3")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    uri = ModelArtefactStore(s3, BUCKET).put(
        ag_news_model.model_version, local_model.save(ag_news_model), ag_news_model.metadata
    )
    ActiveModelPointerStore(
        boto3.client("ssm"), pointer_parameter_name(PREFIX, "DOCUMENT_CLASSIFIER")
    ).put(
        ActiveModelPointer(
            model_version=ag_news_model.model_version,
            backend="local",
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_CLASS",
            artefact_uri=uri,
        )
    )
    deploy_function(lambdas, "textloop-classify", "classify", _env())
    # The same code with every prediction below threshold: routes each text to review.
    deploy_function(
        lambdas, "textloop-classify-strict", "classify", _env(THRESHOLD_OVERRIDE='{"default": 1}')
    )
    deploy_function(lambdas, "textloop-feedback", "feedback", _env())
    deploy_function(lambdas, "textloop-batch-feedback", "batch_feedback", _env())
    deploy_function(lambdas, "textloop-write-feedback", "write_feedback", _env())
    return lambdas


def invoke(name, event):
    out = boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
    payload = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, payload
    return payload


def call(name, path, body=None, **kwargs):
    response = invoke(name, rest_event(path, "POST", body, **kwargs))
    return response["statusCode"], json.loads(response["body"])


def feedback_objects():
    """Every object version under feedback/, once the intake queue's messages are delivered
    to its consumer (as Lambda's poller does)."""
    names = {f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]}
    if "textloop-write-feedback" in names:
        drain_feedback_queue("textloop-write-feedback", create_feedback_queue())
    listed = boto3.client("s3").list_object_versions(Bucket=BUCKET, Prefix="feedback/")
    return listed.get("Versions", [])


def object_lines(key: str) -> list[bytes]:
    """The JSON lines of one feedback file (gzipped JSON Lines)."""
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return gzip.decompress(body).splitlines()


def test_classify_answers_labels_scores_and_model_version(deployed, ag_news_model):
    status, body = call("textloop-classify", "/classify", {"text": SPORTS}, request_id="r-1")
    assert status == 200, body
    assert body["predicted_labels"] == ["Sports"]
    assert body["model_version"] == ag_news_model.model_version
    assert body["request_id"] == "r-1"
    scores = {item["label"]: item["score"] for item in body["prediction"]["labels"]}
    assert set(scores) == {"World", "Sports", "Business", "SciTech"}
    assert abs(sum(scores.values()) - 1) < 1e-6
    assert body["routed_to_review"] is False
    assert feedback_objects() == []


def test_low_confidence_becomes_one_implicit_record_even_when_retried(deployed):
    first = call("textloop-classify-strict", "/classify", {"text": SPORTS}, request_id="r-2")
    again = call("textloop-classify-strict", "/classify", {"text": SPORTS}, request_id="r-3")
    assert first[0] == again[0] == 200
    assert first[1]["routed_to_review"] is True
    assert first[1]["feedback_id"] == again[1]["feedback_id"]
    assert [b["id"] for b in queued_bodies(create_feedback_queue())] == [first[1]["feedback_id"]]
    objects = feedback_objects()
    assert len(objects) == 1, "a retried request must not write a second object or version"
    key = objects[0]["Key"]
    assert key.startswith("feedback/model_type=DOCUMENT_CLASSIFIER/dt=") and "/hour=" in key
    [record] = [json.loads(line) for line in object_lines(key)]
    assert record["source"] == "implicit"
    assert record["reason"] == "below_threshold"
    assert record["text"] == SPORTS
    # The application whose key the first request used (key-id-1), never one from the body.
    assert record["origin"] == {"request_id": "r-2", "application_id": "test-app"}


def test_a_record_that_cannot_be_queued_fails_the_request_loudly(deployed):
    # The queue is gone: the routed prediction's record cannot be sent, so the call fails (API
    # Gateway answers 502 and the client retries) rather than answering with the record lost.
    missing = "https://sqs.us-east-1.amazonaws.com/123456789012/textloop-test-gone"
    env = _env(THRESHOLD_OVERRIDE='{"default": 1}', FEEDBACK_QUEUE_URL=missing)
    deploy_function(deployed, "textloop-classify-no-queue", "classify", env)
    out = boto3.client("lambda").invoke(
        FunctionName="textloop-classify-no-queue",
        Payload=json.dumps(rest_event("/classify", "POST", {"text": SPORTS})),
    )
    assert out.get("FunctionError"), json.loads(out["Payload"].read())
    assert feedback_objects() == []


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"text": ""}, "text", 400),
        ({"text": "   \n"}, "text", 400),
        ({"text": 42}, "text", 400),
        ({}, "text", 400),
        ({"text": "ok", "colour": "red"}, "colour", 400),
        ({"text": "ok", "model_type": "SENTIMENT"}, "model_type", 400),
        ("not json", "body", 400),
        ({"text": "x" * 10_001}, "text", 413),
    ],
)
def test_classify_rejects_bad_requests_naming_the_field(deployed, body, field, status):
    got, answer = call("textloop-classify", "/classify", body)
    assert got == status, answer
    assert field in json.dumps(answer)


def test_classify_rejects_text_that_is_not_utf8(deployed):
    got, answer = call("textloop-classify", "/classify", raw=b'{"text": "caf\xe9"}')
    assert got == 400
    assert "UTF-8" in json.dumps(answer)


def test_classify_without_an_active_model_is_503(lambdas):
    create_bucket(BUCKET)
    deploy_function(lambdas, "textloop-classify", "classify", _env())
    status, body = call("textloop-classify", "/classify", {"text": SPORTS})
    assert status == 503
    assert "no active model" in body["message"]


def _feedback_body(**overrides):
    return {
        "text": SPORTS,
        "model_type": "DOCUMENT_CLASSIFIER",
        "mode": "MULTI_CLASS",
        "model_version": "agnews-test-1",
        "prediction": {
            "labels": [{"label": "Business", "score": 0.6}, {"label": "Sports", "score": 0.4}],
            "routed_to_review": False,
        },
        "reason": "dislike",
        "corrected_labels": ["Sports"],
        "submitter": {"user_id": "u-1"},
        **overrides,
    }


def test_feedback_is_recorded_once_with_the_api_key_as_application(deployed):
    status, body = call(
        "textloop-feedback", "/feedback", _feedback_body(), api_key_id="key-id-app-7"
    )
    again = call("textloop-feedback", "/feedback", _feedback_body(), api_key_id="key-id-app-7")
    assert status == 202 and body["duplicate"] is False
    assert again == (202, {"feedback_id": body["feedback_id"], "duplicate": True})
    [obj] = feedback_objects()
    [record] = [json.loads(line) for line in object_lines(obj["Key"])]
    assert record["source"] == "explicit-api"
    assert record["corrected_labels"] == ["Sports"]
    assert record["submitter"] == {"user_id": "u-1", "application_id": "app-7"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reason": "meh"}, "reason"),
        ({"corrected_labels": ["Sports", "World"]}, "corrected_labels"),
        ({"text": ""}, "text"),
        ({"prediction": "Sports"}, "prediction"),
        ({"extra": 1}, "extra"),
    ],
)
def test_feedback_rejects_bad_requests_naming_the_field(deployed, overrides, field):
    status, body = call("textloop-feedback", "/feedback", _feedback_body(**overrides))
    assert status == 400, body
    assert field in json.dumps(body)
    assert feedback_objects() == []


BATCH_KEY = "uploads/feedback/DOCUMENT_CLASSIFIER/support-team/2026-11-23.jsonl"


def _upload(key, lines):
    s3 = boto3.client("s3")
    put = s3.put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())
    return s3_put_event(BUCKET, key, etag=put["ETag"].strip('"'), version_id=put.get("VersionId"))


def test_batch_file_keeps_good_lines_and_reports_bad_ones_by_line(deployed):
    lines = [
        json.dumps({"text": "Stocks fell as oil rose", "corrected_labels": ["Business"]}),
        "{not json",
        json.dumps({"text": "", "corrected_labels": ["World"]}),
        json.dumps({"text": SPORTS, "corrected_labels": ["Sports"]}),
    ]
    event = _upload(BATCH_KEY, lines)
    result = invoke("textloop-batch-feedback", event)
    assert result["uploads"][0]["accepted"] == 2
    assert result["uploads"][0]["rejected"] == 2

    s3 = boto3.client("s3")
    errors_key = result["uploads"][0]["errors_key"]
    assert errors_key == "uploads/errors/" + BATCH_KEY.removeprefix("uploads/") + ".errors.json"
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=errors_key)["Body"].read())
    assert report["status"] == "completed_with_errors"
    assert [e["line"] for e in report["errors"]] == [2, 3]
    assert report["errors"][1]["errors"][0]["field"] == "text"
    chunks = feedback_objects()
    records = [json.loads(line) for obj in chunks for line in object_lines(obj["Key"])]
    assert sorted(r["corrected_labels"][0] for r in records) == ["Business", "Sports"]
    assert {r["source"] for r in records} == {"explicit-batch"}
    assert {r["origin"]["line"] for r in records} == {1, 4}

    # S3 delivers events at least once: the same event again changes nothing.
    invoke("textloop-batch-feedback", event)
    assert len(feedback_objects()) == len(chunks)


def test_batch_file_in_the_seed_json_format(deployed):
    sample = DATA / "ag_news" / "sample-batch-feedback.json"
    key = "uploads/feedback/DOCUMENT_CLASSIFIER/seed/sample-batch-feedback.json"
    s3 = boto3.client("s3")
    put = s3.put_object(Bucket=BUCKET, Key=key, Body=sample.read_bytes())
    result = invoke(
        "textloop-batch-feedback",
        s3_put_event(BUCKET, key, etag=put["ETag"].strip('"'), version_id=put.get("VersionId")),
    )
    assert result["uploads"][0]["rejected"] == 0
    assert result["uploads"][0]["accepted"] == 2


def test_batch_file_outside_the_layout_gets_an_errors_object(deployed):
    key = "uploads/misc/file.jsonl"
    invoke("textloop-batch-feedback", _upload(key, [json.dumps({"text": "a"})]))
    report = json.loads(
        boto3.client("s3")
        .get_object(Bucket=BUCKET, Key="uploads/errors/misc/file.jsonl.errors.json")["Body"]
        .read()
    )
    assert report["status"] == "failed"
    assert "uploads/feedback/" in report["file_errors"][0]["errors"][0]["message"]
    assert feedback_objects() == []


# --------------------------------------------------------------------------- client applications


def _records_in_lake():
    return [json.loads(line) for obj in feedback_objects() for line in object_lines(obj["Key"])]


@pytest.mark.parametrize("api_key_id", [None, "", "key-of-no-application"])
@pytest.mark.parametrize(
    ("function", "path", "body"),
    [
        ("textloop-classify-strict", "/classify", {"text": SPORTS}),
        ("textloop-feedback", "/feedback", _feedback_body()),
    ],
)
def test_client_routes_refuse_a_key_of_no_application(deployed, function, path, body, api_key_id):
    status, answer = call(function, path, body, api_key_id=api_key_id)
    assert status == 403, answer
    assert "no client application" in answer["message"]
    assert feedback_objects() == []


def test_feedback_naming_another_application_is_refused(deployed):
    spoofed = _feedback_body(submitter={"user_id": "u-1", "application_id": "support-team"})
    status, body = call("textloop-feedback", "/feedback", spoofed, api_key_id="key-id-partner")
    assert status == 400
    assert [e["field"] for e in body["errors"]] == ["submitter.application_id"]
    assert feedback_objects() == []
    # Naming its own application is fine.
    own = _feedback_body(submitter={"user_id": "u-1", "application_id": "partner"})
    status, body = call("textloop-feedback", "/feedback", own, api_key_id="key-id-partner")
    assert status == 202, body


def test_feedback_records_carry_the_verified_application_and_its_trust(deployed):
    call("textloop-feedback", "/feedback", _feedback_body(), api_key_id="key-id-partner")
    call(
        "textloop-feedback",
        "/feedback",
        _feedback_body(submitter={"user_id": "u-2"}),
        api_key_id="key-id-support-team",
    )
    records = {r["submitter"]["application_id"]: r for r in _records_in_lake()}
    assert set(records) == {"partner", "support-team"}
    assert records["partner"]["trusted"] is False
    assert records["support-team"]["trusted"] is True
    # Two applications making the same statement are two pieces of feedback.
    assert records["partner"]["id"] != records["support-team"]["id"]


def _errors_object(key):
    s3 = boto3.client("s3")
    return json.loads(
        s3.get_object(
            Bucket=BUCKET, Key="uploads/errors/" + key.removeprefix("uploads/") + ".errors.json"
        )["Body"].read()
    )


@pytest.mark.parametrize(
    ("application", "message"),
    [
        ("stranger", "'stranger' is not a client application of this deployment"),
        ("..", "uploads must follow uploads/feedback/"),
        ("support team", "uploads must follow uploads/feedback/"),
        ("Support-Team", "uploads must follow uploads/feedback/"),
    ],
)
def test_uploads_of_unknown_or_malformed_applications_are_refused_whole(
    deployed, application, message
):
    key = f"uploads/feedback/DOCUMENT_CLASSIFIER/{application}/f.jsonl"
    lines = [json.dumps({"text": SPORTS, "corrected_labels": ["Sports"]})]
    result = invoke("textloop-batch-feedback", _upload(key, lines))
    assert result["uploads"][0]["accepted"] == 0
    report = _errors_object(key)
    assert report["key"] == key and report["status"] == "failed"
    [problem] = report["file_errors"]
    assert problem["fatal"] is True and problem["errors"][0]["field"] == "key"
    assert message in problem["errors"][0]["message"]
    assert feedback_objects() == []


def test_batch_lines_cannot_speak_for_another_application(deployed):
    key = "uploads/feedback/DOCUMENT_CLASSIFIER/partner/f.jsonl"
    lines = [
        json.dumps({"text": SPORTS, "corrected_labels": ["Sports"], "application_id": "partner"}),
        json.dumps(
            {"text": "Stocks fell", "corrected_labels": ["Business"], "application_id": "seed"}
        ),
        json.dumps({"text": "Rain in Paris", "user_id": "u-9"}),
    ]
    result = invoke("textloop-batch-feedback", _upload(key, lines))
    assert (result["uploads"][0]["accepted"], result["uploads"][0]["rejected"]) == (2, 1)
    report = _errors_object(key)
    assert report["errors"] == [
        {
            "line": 2,
            "errors": [
                {
                    "field": "application_id",
                    "message": "must be the upload's application (partner) or left out",
                }
            ],
        }
    ]
    records = _records_in_lake()
    assert {r["submitter"]["application_id"] for r in records} == {"partner"}
    assert {r["origin"]["line"] for r in records} == {1, 3}
    # partner is untrusted: its records say so, and the loop will review its correction.
    assert {r["trusted"] for r in records} == {False}


def test_batch_records_carry_the_uploading_application_s_trust(deployed):
    event = _upload(BATCH_KEY, [json.dumps({"text": SPORTS, "corrected_labels": ["Sports"]})])
    invoke("textloop-batch-feedback", event)
    [record] = _records_in_lake()
    assert record["submitter"] == {"application_id": "support-team"}
    assert record["trusted"] is True

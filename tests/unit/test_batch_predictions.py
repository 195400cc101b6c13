"""Predictions of a Comprehend batch classification job over the test set: the job's input, its
output, and the adapter's calls (botocore Stubber: Comprehend has no emulator)."""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY
from textloop.adapters.comprehend_predictions import ComprehendTestPredictions
from textloop.domain.evaluation import evaluate
from textloop.domain.resources import run_time_tags
from textloop.domain.test_predictions import (
    PredictionOutputError,
    combined_status,
    documents_text,
    job_name,
    parse_output,
    prediction_lines,
    request_token,
)

from tests.support import aws_examples

CLASSIFIER = (
    "arn:aws:comprehend:us-east-1:123456789012:document-classifier/textloop-classifier/version/v2"
)


def output_archive(records: list[dict]) -> bytes:
    """An output.tar.gz as Comprehend writes it: predictions.jsonl, one record per line."""
    return aws_examples.output_archive(records, aws_examples.CLASSIFICATION_MEMBER)


def record(line: int, classes: list[tuple[str, float]], key: str = "Classes") -> dict:
    """One line of the job's output, as the published multi-class example (outputs-class-async)
    with this test's line and classes (``key="Labels"`` for a multi-label classifier)."""
    return aws_examples.classification_output_record(line, classes, key=key, file="f")


def test_input_is_one_document_per_line_in_test_set_order(ag_news_rows):
    texts = [text for _, text in ag_news_rows[:50]] + ["first line\nsecond\r\nthird\u2028end"]
    content = documents_text(texts)
    lines = content.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(texts)
    assert lines[:50] == [t.replace("\n", " ") for t in texts[:50]]
    assert lines[50] == "first line second third end"


def test_request_tokens_name_one_model_on_one_data_set():
    token = request_token("v2", "ds1")
    assert token == request_token("v2", "ds1") and len(token) == 64
    assert len({token, request_token("v2", "ds2"), request_token("v3", "ds1")}) == 3


def test_job_names_are_valid_for_comprehend():
    name = job_name("it-7-3f2a9c01de", "ds 2026/11 #1")
    assert name == "textloop-it-7-3f2a9c01de-ds-2026-11-1"
    assert len(job_name("x" * 300, "y")) == 256


def test_multi_class_output_round_trips_into_an_evaluation(ag_news_rows):
    rows = ag_news_rows[:40]
    # What a classifier that is wrong on every fifth document would answer (top 3 classes).
    records = []
    for i, (label, _) in enumerate(rows):
        predicted = label if i % 5 else ("World" if label != "World" else "Sports")
        others = [c for c in ("World", "Sports", "Business", "SciTech") if c != predicted][:2]
        records.append(record(i, [(predicted, 0.8)] + [(o, 0.1) for o in others]))
    records.reverse()  # the job does not promise order
    predictions = parse_output(
        prediction_lines(output_archive(records)),
        n_documents=len(rows),
        mode="MULTI_CLASS",
        model_version="v2",
    )
    assert [p.top.label for p in predictions][:2] == [
        "World" if rows[0][0] != "World" else "Sports",
        rows[1][0],
    ]
    result = evaluate(
        [[label] for label, _ in rows], predictions, mode="MULTI_CLASS", model_version="v2"
    )
    assert result["Accuracy"] == pytest.approx(0.8)
    assert result["n"] == 40


def test_multi_label_output_keeps_every_label_score():
    records = [
        record(0, [("toxic", 0.91)], key="Labels"),
        record(1, [], key="Labels"),
        record(2, [("insult", 0.6), ("toxic", 0.7)], key="Labels"),
    ]
    predictions = parse_output(
        prediction_lines(output_archive(records)),
        n_documents=3,
        mode="MULTI_LABEL",
        model_version="v3",
    )
    assert [p.score_of("toxic") for p in predictions] == [0.91, None, 0.7]
    assert predictions[2].labels[0].label == "toxic" and predictions[1].labels == ()


def test_an_output_that_misses_or_repeats_documents_is_refused_with_the_lines():
    good = record(0, [("World", 0.9)])
    lines = [
        json.dumps(good),
        json.dumps(good),
        json.dumps(record(7, [])),
        json.dumps(record(1, [], key="Labels")),
        "not json",
    ]
    with pytest.raises(PredictionOutputError) as error:
        parse_output(lines, n_documents=4, mode="MULTI_CLASS", model_version="v2")
    message = str(error.value)
    assert "output line 2: Line 0 answered twice" in message
    assert "output line 3: Line 7 is outside the test set" in message
    assert "output line 4: not a MULTI_CLASS prediction" in message
    assert "output line 5" in message
    assert "3 test documents have no prediction (Line 1, 2, 3)" in message


def test_only_jsonl_members_are_read():
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, body in (("README.txt", b"ignore me\n"), ("out/predictions.jsonl", b'{"a":1}\n')):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    assert prediction_lines(archive.getvalue()) == ['{"a":1}']


def test_combined_status():
    done = {"status": "COMPLETED"}
    assert combined_status({"candidate": done, "active": None}) == "COMPLETED"
    assert combined_status({"candidate": done, "active": {"status": "IN_PROGRESS"}}) == "RUNNING"
    assert combined_status({"candidate": {"status": "FAILED"}, "active": None}) == "FAILED"
    assert (
        combined_status({"candidate": {"status": "SUBMITTED"}, "active": {"status": "FAILED"}})
        == "FAILED"
    )


def test_adapter_starts_idempotently_and_maps_statuses():
    client = boto3.client("comprehend", region_name="us-east-1")
    stubber = aws_examples.stubber(client)
    expected = {
        "JobName": "textloop-v2-ds1",
        "DocumentClassifierArn": CLASSIFIER,
        "InputDataConfig": {
            "S3Uri": "s3://lake/datasets/ds1/test-documents.txt",
            "InputFormat": "ONE_DOC_PER_LINE",
        },
        "OutputDataConfig": {"S3Uri": "s3://lake/models/v2/test-predictions/ds1/"},
        "DataAccessRoleArn": "arn:aws:iam::123456789012:role/data",
        "ClientRequestToken": request_token("v2", "ds1"),
        "Tags": [
            {"Key": "textloop:stack", "Value": "tl-dev"},
            {"Key": "textloop:model-type", "Value": "DOCUMENT_CLASSIFIER"},
        ],
    }
    job_arn = "arn:aws:comprehend:us-east-1:123456789012:document-classification-job/job-1"
    # The CLI's start-document-classification-job example, for this job.
    started = aws_examples.response(
        "comprehend/start-document-classification-job", JobId="job-1", JobArn=job_arn
    )
    stubber.add_response("start_document_classification_job", started, expected)
    stubber.add_response("start_document_classification_job", started, expected)

    def described(status: str, **changes) -> dict:
        """The CLI's describe-document-classification-job example, for this job."""
        return aws_examples.response(
            "comprehend/describe-document-classification-job",
            DocumentClassificationJobProperties={
                "JobId": "job-1",
                "JobArn": job_arn,
                "JobName": "textloop-v2-ds1",
                "JobStatus": status,
                "DocumentClassifierArn": CLASSIFIER,
                "InputDataConfig": {"S3Uri": expected["InputDataConfig"]["S3Uri"]},
                "DataAccessRoleArn": expected["DataAccessRoleArn"],
                **changes,
            },
        )

    # Comprehend names the output <output prefix><account>-CLN-<job id>/output/output.tar.gz.
    output = "s3://lake/models/v2/test-predictions/ds1/123456789012-CLN-job-1/output/output.tar.gz"
    running = {"EndTime": aws_examples.DROP, "OutputDataConfig": {"S3Uri": output}}
    stubber.add_response(
        "describe_document_classification_job",
        described("IN_PROGRESS", **running),
        {"JobId": "job-1"},
    )
    stubber.add_response(
        "describe_document_classification_job",
        described("COMPLETED", OutputDataConfig={"S3Uri": output}),
        {"JobId": "job-1"},
    )
    stubber.add_response(
        "describe_document_classification_job",
        described(
            "FAILED",
            OutputDataConfig={"S3Uri": output},
            Message="AccessDenied on s3://lake/datasets/ds1/test-documents.txt",
        ),
        {"JobId": "job-1"},
    )
    jobs = ComprehendTestPredictions(client)
    with stubber:
        arguments = {
            "model_arn": CLASSIFIER,
            "model_version": "v2",
            "dataset_version": "ds1",
            "input_uri": "s3://lake/datasets/ds1/test-documents.txt",
            "output_uri": "s3://lake/models/v2/test-predictions/ds1/",
            "role_arn": "arn:aws:iam::123456789012:role/data",
            "tags": run_time_tags("tl-dev", "DOCUMENT_CLASSIFIER"),
        }
        job = jobs.start(**arguments)
        assert jobs.start(**arguments) == job  # a retried step: same token, same job
        assert job["kind"] == "batch_job" and job["job_id"] == "job-1"
        assert job["status"] == "SUBMITTED"
        running = jobs.describe(job)
        assert running["status"] == "IN_PROGRESS" and "output_uri" not in running
        done = jobs.describe(running)
        assert done["status"] == "COMPLETED" and done["output_uri"].endswith("output.tar.gz")
        failed = jobs.describe(job)
        assert failed["status"] == "FAILED" and "AccessDenied" in failed["message"]
        stubber.assert_no_pending_responses()


def test_first_promotion_creates_the_endpoint_later_ones_update_it():
    from textloop.adapters.active_model import serve_with_endpoint

    endpoint = (
        "arn:aws:comprehend:us-east-1:123456789012:document-classifier-endpoint/tl-classifier"
    )
    client = boto3.client("comprehend", region_name="us-east-1")
    stubber = aws_examples.stubber(client)
    stubber.add_client_error(
        "update_endpoint",
        "ResourceNotFoundException",
        "Endpoint not found",
        expected_params={"EndpointArn": endpoint, "DesiredModelArn": CLASSIFIER},
    )
    created = {
        "EndpointName": "tl-classifier",
        "ModelArn": CLASSIFIER,
        "DesiredInferenceUnits": 2,
        "ClientRequestToken": ANY,
        # Tag-on-create: `textloop resources` finds the endpoint by the stack's tag.
        "Tags": [
            {"Key": "textloop:stack", "Value": "tl-dev"},
            {"Key": "textloop:model-type", "Value": "DOCUMENT_CLASSIFIER"},
        ],
    }
    stubber.add_response(
        "create_endpoint",
        aws_examples.response("comprehend/create-endpoint", EndpointArn=endpoint),
        created,
    )
    stubber.add_response(
        "update_endpoint",
        aws_examples.response("comprehend/update-endpoint"),
        {"EndpointArn": endpoint, "DesiredModelArn": CLASSIFIER},
    )
    stubber.add_client_error(
        "update_endpoint",
        "ResourceInUseException",
        "Endpoint is updating",
        expected_params={"EndpointArn": endpoint, "DesiredModelArn": CLASSIFIER},
    )
    with stubber:
        tags = run_time_tags("tl-dev", "DOCUMENT_CLASSIFIER")
        assert (
            serve_with_endpoint(client, endpoint, CLASSIFIER, inference_units=2, tags=tags)
            == "created"
        )
        assert serve_with_endpoint(client, endpoint, CLASSIFIER) == "updated"
        # Anything but a missing endpoint is the caller's to see (the step retries or fails).
        with pytest.raises(ClientError, match="ResourceInUseException"):
            serve_with_endpoint(client, endpoint, CLASSIFIER)
        stubber.assert_no_pending_responses()

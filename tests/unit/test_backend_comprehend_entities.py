"""The Comprehend back-end for entity recognisers: training (CreateEntityRecognizer and its
polling), test-set predictions (StartEntitiesDetectionJob and its output), real time
(DetectEntities on an endpoint) and promotion/rollback (UpdateEndpoint), against botocore's
Stubber, which checks every request and response against botocore's model of the API.

Comprehend has no emulator (neither moto nor LocalStack implements it), so the responses are
fixtures. Each one copies the shape of AWS's published example, cited beside it; the values
(ARNs, names) are ours so they line up with the requests the code makes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY
from textloop.adapters import clients
from textloop.adapters.active_model import (
    ActiveModelPointer,
    ActiveModelPointerStore,
    backend_loader,
    pointer_parameter_name,
)
from textloop.adapters.comprehend_predictions import ComprehendTestPredictions
from textloop.adapters.comprehend_training import ComprehendRecognizerTraining
from textloop.adapters.registry import Registry
from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.datasets.build import build_datasets
from textloop.domain.datasets.formats import parse_entity_files
from textloop.domain.iteration import Iteration, IterationConfig
from textloop.domain.test_predictions import (
    PredictionOutputError,
    output_lines,
    parse_entity_output,
    request_token,
)
from textloop.steps import describe_training, predict_test_set, promote_candidate, train

from tests.support import aws_examples
from tests.support.iteration_stack import BUCKET, PREFIX, TABLE, deploy_iteration_stack
from tests.support.stack import create_registry_table

REPO = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/textloop-comprehend-data"
RECOGNIZER = "arn:aws:comprehend:us-east-1:123456789012:entity-recognizer/textloop-recognizer"
ENDPOINT = "arn:aws:comprehend:us-east-1:123456789012:entity-recognizer-endpoint/textloop-ner"
DATASET_VERSION = "ds-ner-1"


def version_arn(version: str) -> str:
    return f"{RECOGNIZER}/version/{version}"


# --------------------------------------------------------------------------- fixtures (AWS)
# AWS's published examples (tests/support/aws_examples.py, sources in tests/fixtures/aws/), with
# only the ids, ARNs, names and statuses changed to line up with the requests the code makes.


def created(version: str) -> dict:
    return aws_examples.response(
        "comprehend/create-entity-recognizer", EntityRecognizerArn=version_arn(version)
    )


def described(version: str, status: str, message: str | None = None) -> dict:
    """The CLI's describe-entity-recognizer example for this version: our annotations input
    instead of the example's entity list; an unfinished version has no end time or metrics.
    Status values and Message: the API reference's EntityRecognizerProperties. AWS publishes
    no IN_ERROR example: the message texts of the tests are ours."""
    trained = status.startswith("TRAINED")
    return aws_examples.response(
        "comprehend/describe-entity-recognizer",
        EntityRecognizerProperties={
            "EntityRecognizerArn": version_arn(version),
            "Status": status,
            "InputDataConfig": {
                "EntityTypes": [{"Type": "SERVICE"}, {"Type": "VERSION"}],
                "Documents": {"S3Uri": f"s3://{BUCKET}/datasets/{DATASET_VERSION}/train.txt"},
                "EntityList": aws_examples.DROP,
                "Annotations": {
                    "S3Uri": f"s3://{BUCKET}/datasets/{DATASET_VERSION}/train-annotations.csv"
                },
            },
            "DataAccessRoleArn": ROLE,
            "VersionName": version,
            **(
                {}
                if trained
                else {
                    "EndTime": aws_examples.DROP,
                    "TrainingEndTime": aws_examples.DROP,
                    "RecognizerMetadata": aws_examples.DROP,
                }
            ),
            **({"Message": message} if message else {}),
        },
    )


def job_started(job_id: str) -> dict:
    return aws_examples.response(
        "comprehend/start-entities-detection-job",
        JobId=job_id,
        JobArn=f"arn:aws:comprehend:us-east-1:123456789012:entities-detection-job/{job_id}",
    )


def job_described(job_id: str, status: str, version: str, message: str | None = None) -> dict:
    """The CLI's describe-entities-detection-job example for this job, with the recogniser's
    ARN (EntitiesDetectionJobProperties.EntityRecognizerArn, which the example leaves out)."""
    return aws_examples.response(
        "comprehend/describe-entities-detection-job",
        EntitiesDetectionJobProperties={
            "JobId": job_id,
            "JobArn": f"arn:aws:comprehend:us-east-1:123456789012:entities-detection-job/{job_id}",
            "JobName": f"textloop-{version}-{DATASET_VERSION}",
            "JobStatus": status,
            "EntityRecognizerArn": version_arn(version),
            "InputDataConfig": {"S3Uri": f"s3://{BUCKET}/datasets/{DATASET_VERSION}/test.txt"},
            "OutputDataConfig": {"S3Uri": output_uri(version, job_id)},
            "DataAccessRoleArn": ROLE,
            **({} if status == "COMPLETED" else {"EndTime": aws_examples.DROP}),
            **({"Message": message} if message else {}),
        },
    )


def output_uri(version: str, job_id: str) -> str:
    # As the example's OutputDataConfig: <prefix><account>-NER-<job id>/output/output.tar.gz
    prefix = layout.test_predictions_prefix(version, DATASET_VERSION)
    return f"s3://{BUCKET}/{prefix}123456789012-NER-{job_id}/output/output.tar.gz"


def output_line(file: str, line: int, text: str, spans: list[tuple[int, int, str, float]]) -> str:
    """One line of the job's output.txt, as the CLI's custom entity detection example."""
    return json.dumps(aws_examples.entity_output_record(line, text, spans, file=file))


def archive(lines: list[str], name: str = aws_examples.ENTITIES_MEMBER) -> bytes:
    return aws_examples.output_archive(lines, name)


# --------------------------------------------------------------------------- a data set


@pytest.fixture(scope="module")
def service_documents() -> list[dict]:
    """The AWS-service NER sample (data/aws_service_ner, MIT-0) in Comprehend's entity format."""
    folder = REPO / "data" / "aws_service_ner" / "comprehend"
    return parse_entity_files(
        (folder / "train.csv").read_text(), (folder / "annotations.csv").read_text(), "train.csv"
    )


@pytest.fixture
def ctx(aws):
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    create_registry_table(TABLE)
    return Stack(
        {
            "DATA_LAKE_BUCKET": BUCKET,
            "REGISTRY_TABLE": TABLE,
            "ACTIVE_MODEL_PARAMETER_PREFIX": PREFIX,
            "ITERATION_DEFAULTS": '{"model_backend": "comprehend"}',
            "COMPREHEND_DATA_ACCESS_ROLE_ARN": ROLE,
            "COMPREHEND_RECOGNIZER_NAME": "textloop-recognizer",
            "COMPREHEND_RECOGNIZER_ENDPOINT_ARN": ENDPOINT,
            "STACK_NAME": "textloop-ner-test",
        }
    )


# What the recogniser versions and batch jobs of that stack are created with (tag-on-create),
# so `textloop resources` finds them.
STACK_TAGS = [
    {"Key": "textloop:stack", "Value": "textloop-ner-test"},
    {"Key": "textloop:model-type", "Value": "ENTITY_RECOGNIZER"},
]


def iteration(iteration_id: str = "it-ner-1", **config) -> Iteration:
    return Iteration(
        iteration_id=iteration_id,
        execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:textloop:{iteration_id}",
        started_at="2026-12-01T10:00:00.000Z",
        model_type="ENTITY_RECOGNIZER",
        mode=None,
        config=IterationConfig(model_backend="comprehend", **config),
        lock={},
    )


def put_dataset(ctx: Stack, documents: list[dict]) -> dict:
    """The data set BuildDatasets writes for an entity recogniser, built by the real builder."""
    build = build_datasets(
        model_type="ENTITY_RECOGNIZER", original_documents=documents, strict=False
    )
    for name, body in build.files.items():
        ctx.lake.put_text(layout.dataset_key(DATASET_VERSION, name), body, "text/plain")
    manifest_key = layout.dataset_key(DATASET_VERSION, "manifest.json")
    ctx.lake.put_json(manifest_key, build.manifest)
    return {
        "dataset_version": DATASET_VERSION,
        "manifest_key": manifest_key,
        "train_uri": ctx.lake.uri(layout.dataset_key(DATASET_VERSION, "train.txt")),
        "test_uri": ctx.lake.uri(layout.dataset_key(DATASET_VERSION, "test.txt")),
        "test_set_hash": build.test_set_hash,
        "build": build,
    }


def step_dataset(dataset: dict) -> dict:
    return {k: v for k, v in dataset.items() if k != "build"}


def comprehend_client():
    return boto3.client("comprehend", region_name="us-east-1")


# --------------------------------------------------------------------------- training


def test_train_creates_a_recognizer_version_and_a_retry_names_the_same_one(ctx, service_documents):
    dataset = put_dataset(ctx, service_documents)
    it = iteration()
    version = it.candidate_version(DATASET_VERSION)
    lake = f"s3://{BUCKET}/datasets/{DATASET_VERSION}"
    expected = {
        "RecognizerName": "textloop-recognizer",
        "VersionName": version,
        "DataAccessRoleArn": ROLE,
        "InputDataConfig": {
            "DataFormat": "COMPREHEND_CSV",
            "EntityTypes": [{"Type": "SERVICE"}, {"Type": "VERSION"}],
            "Documents": {
                "S3Uri": f"{lake}/train.txt",
                "TestS3Uri": f"{lake}/test.txt",
                "InputFormat": "ONE_DOC_PER_LINE",
            },
            "Annotations": {
                "S3Uri": f"{lake}/train-annotations.csv",
                "TestS3Uri": f"{lake}/test-annotations.csv",
            },
        },
        "LanguageCode": "en",
        # Derived from the name and the version: a retried step sends the same token.
        "ClientRequestToken": hashlib.sha256(f"textloop-recognizer/{version}".encode()).hexdigest(),
        "Tags": STACK_TAGS,
    }
    client = comprehend_client()
    stubber = aws_examples.stubber(client)
    stubber.add_response("create_entity_recognizer", created(version), expected)
    # The retried step: Comprehend says the version exists (a different token, or the same one
    # after the first call's answer was lost); the step finds it by listing the name.
    stubber.add_client_error(
        "create_entity_recognizer",
        "ResourceInUseException",
        f"Entity recognizer version {version} already exists",
        expected_params=expected,
    )
    # The CLI's list-entity-recognizers example, with this name's versions: an older one first.
    stubber.add_response(
        "list_entity_recognizers",
        aws_examples.response(
            "comprehend/list-entity-recognizers",
            EntityRecognizerPropertiesList=[
                described("it-ner-0-aaaaaaaaaa", "TRAINED")["EntityRecognizerProperties"],
                described(version, "TRAINING")["EntityRecognizerProperties"],
            ],
        ),
        {"Filter": {"RecognizerName": "textloop-recognizer"}},
    )
    event = {"iteration": it.to_dict(), "dataset": step_dataset(dataset)}
    with stubber, clients.override("comprehend", client):
        first = train.run(ctx, event)
        again = train.run(ctx, event)
        stubber.assert_no_pending_responses()
    assert first == again
    assert first["status"] == "SUBMITTED" and first["polls"] == 0
    assert first["model_version"] == version
    assert first["job"] == {
        "backend": "comprehend",
        "model_type": "ENTITY_RECOGNIZER",
        "recognizer_arn": version_arn(version),
        "recognizer_name": "textloop-recognizer",
        "version_name": version,
    }
    # Every annotation file Comprehend is pointed at exists with the header it expects.
    for uri in (
        expected["InputDataConfig"]["Annotations"]["S3Uri"],
        expected["InputDataConfig"]["Annotations"]["TestS3Uri"],
    ):
        text = ctx.lake.get_text(ctx.lake.key_of(uri))
        assert text.splitlines()[0] == "File,Line,Begin Offset,End Offset,Type"


def test_a_create_refused_for_another_reason_is_not_taken_for_a_retry():
    client = comprehend_client()
    stubber = aws_examples.stubber(client)
    stubber.add_client_error(
        "create_entity_recognizer", "InvalidRequestException", "Not enough annotations"
    )
    with stubber, pytest.raises(Exception, match="Not enough annotations"):
        ComprehendRecognizerTraining(client).start(
            recognizer_name="r",
            model_version="v1",
            entity_types=["SERVICE"],
            documents_uri="s3://textloop-b/d.txt",
            annotations_uri="s3://textloop-b/a.csv",
            test_documents_uri=None,
            test_annotations_uri=None,
            role_arn=ROLE,
        )


def test_without_a_test_set_no_test_uris_are_sent():
    client = comprehend_client()
    stubber = aws_examples.stubber(client)
    stubber.add_response(
        "create_entity_recognizer",
        created("v1"),
        {
            "RecognizerName": "r",
            "VersionName": "v1",
            "DataAccessRoleArn": ROLE,
            "InputDataConfig": {
                "DataFormat": "COMPREHEND_CSV",
                "EntityTypes": [{"Type": "SERVICE"}],
                "Documents": {"S3Uri": "s3://textloop-b/d.txt", "InputFormat": "ONE_DOC_PER_LINE"},
                "Annotations": {"S3Uri": "s3://textloop-b/a.csv"},
            },
            "LanguageCode": "en",
            "ClientRequestToken": ANY,
        },
    )
    with stubber:
        ComprehendRecognizerTraining(client).start(
            recognizer_name="r",
            model_version="v1",
            entity_types=["SERVICE"],
            documents_uri="s3://textloop-b/d.txt",
            annotations_uri="s3://textloop-b/a.csv",
            test_documents_uri="s3://textloop-b/t.txt",  # without its annotations: not a test set
            test_annotations_uri=None,
            role_arn=ROLE,
        )
        stubber.assert_no_pending_responses()


def training_event(it: Iteration, version: str, polls: int = 0) -> dict:
    return {
        "iteration": it.to_dict(),
        "training": {
            "model_version": version,
            "status": "SUBMITTED",
            "polls": polls,
            "job": {
                "backend": "comprehend",
                "model_type": "ENTITY_RECOGNIZER",
                "recognizer_arn": version_arn(version),
                "recognizer_name": "textloop-recognizer",
                "version_name": version,
            },
        },
    }


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        ("TRAINED", None, "TRAINED"),
        ("TRAINED_WITH_WARNING", "Entity type VERSION has few annotations", "TRAINED"),
        ("IN_ERROR", "Entity type VERSION has 12 annotations; at least 25 are needed", "IN_ERROR"),
        ("STOPPED", "Training stopped by StopTrainingEntityRecognizer", "STOPPED"),
        ("TRAINING", None, "TRAINING"),
    ],
)
def test_describe_training_maps_the_recognizer_status_and_keeps_the_message(
    ctx, status, message, expected
):
    it, version = iteration(), "it-ner-1-ff743810b0"
    client = comprehend_client()
    stubber = aws_examples.stubber(client)
    stubber.add_response(
        "describe_entity_recognizer",
        described(version, status, message),
        {"EntityRecognizerArn": version_arn(version)},
    )
    with stubber, clients.override("comprehend", client):
        polled = describe_training.run(ctx, training_event(it, version, polls=3))
    assert polled["status"] == expected and polled["polls"] == 4
    assert polled["job"]["comprehend_status"] == status
    assert polled["job"].get("message") == message
    assert polled["job"]["recognizer_arn"] == version_arn(version)


def _choice(state: dict, data: dict) -> str:
    """The next state of the ASL Choice ``state`` for ``data`` (the rule kinds it uses)."""

    def path(p: str):
        value = data
        for part in p.removeprefix("$.").split("."):
            value = value[part]
        return value

    def holds(rule: dict) -> bool:
        if "Or" in rule:
            return any(holds(r) for r in rule["Or"])
        if "StringEquals" in rule:
            return path(rule["Variable"]) == rule["StringEquals"]
        if "NumericGreaterThanEqualsPath" in rule:
            return path(rule["Variable"]) >= path(rule["NumericGreaterThanEqualsPath"])
        raise AssertionError(f"rule not understood: {rule}")

    return next((c["Next"] for c in state["Choices"] if holds(c)), state["Default"])


def test_polling_a_recognizer_that_never_finishes_stops_at_training_max_polls(ctx):
    """The state machine's own loop (TrainingDone? → WaitForTraining → DescribeTraining), read
    from the ASL, driven with the DescribeTraining step: it ends at TrainingTimedOut after
    exactly ``training_max_polls`` DescribeEntityRecognizer calls."""
    asl = json.loads((REPO / "statemachines" / "iteration.asl.json").read_text())["States"]
    assert asl["WaitForTraining"]["Next"] == "DescribeTraining"
    assert asl["DescribeTraining"]["Next"] == "TrainingDone?"
    it, version = iteration(training_max_polls=3), "it-ner-1-ff743810b0"
    client = comprehend_client()
    stubber = aws_examples.stubber(client)
    for _ in range(3):
        stubber.add_response(
            "describe_entity_recognizer",
            described(version, "TRAINING"),
            {"EntityRecognizerArn": version_arn(version)},
        )
    data = training_event(it, version)
    state, polls = "TrainingDone?", 0
    with stubber, clients.override("comprehend", client):
        while state == "TrainingDone?":
            state = _choice(asl[state], data)
            if state == "WaitForTraining":
                data["training"] = describe_training.run(ctx, data)
                polls += 1
                state = "TrainingDone?"
        stubber.assert_no_pending_responses()
    assert state == "TrainingTimedOut" and polls == 3
    assert data["training"]["status"] == "TRAINING" and data["training"]["polls"] == 3


def test_a_recognizer_in_error_fails_the_training_with_comprehend_s_message(ctx):
    asl = json.loads((REPO / "statemachines" / "iteration.asl.json").read_text())["States"]
    it, version = iteration(), "it-ner-1-ff743810b0"
    message = "Entity type VERSION has 12 annotations; at least 25 are needed"
    client = comprehend_client()
    stubber = aws_examples.stubber(client)
    stubber.add_response(
        "describe_entity_recognizer",
        described(version, "IN_ERROR", message),
        {"EntityRecognizerArn": version_arn(version)},
    )
    data = training_event(it, version)
    with stubber, clients.override("comprehend", client):
        data["training"] = describe_training.run(ctx, data)
    assert _choice(asl["TrainingDone?"], data) == "TrainingFailed"
    # TrainingFailed's Cause is the training as JSON: the message reaches the audit record.
    assert asl["TrainingFailed"]["Parameters"]["Cause.$"] == "States.JsonToString($.training)"
    assert message in json.dumps(data["training"])


# --------------------------------------------------------------------------- test-set predictions


def test_candidate_and_active_recognizers_are_predicted_on_the_frozen_test_documents(
    ctx, service_documents
):
    dataset = put_dataset(ctx, service_documents)
    it = iteration()
    candidate = it.candidate_version(DATASET_VERSION)
    ActiveModelPointerStore(
        boto3.client("ssm"), pointer_parameter_name(PREFIX, "ENTITY_RECOGNIZER")
    ).put(
        ActiveModelPointer(
            model_version="ner-active",
            backend="comprehend",
            model_type="ENTITY_RECOGNIZER",
            endpoint_arn=ENDPOINT,
        )
    )
    test_uri = f"s3://{BUCKET}/datasets/{DATASET_VERSION}/test.txt"

    def expected(version: str) -> dict:
        return {
            "JobName": f"textloop-{version}-{DATASET_VERSION}",
            "EntityRecognizerArn": version_arn(version),
            "InputDataConfig": {"S3Uri": test_uri, "InputFormat": "ONE_DOC_PER_LINE"},
            "OutputDataConfig": {
                "S3Uri": ctx.lake.uri(layout.test_predictions_prefix(version, DATASET_VERSION))
            },
            "DataAccessRoleArn": ROLE,
            "LanguageCode": "en",
            "ClientRequestToken": request_token(version, DATASET_VERSION),
            "Tags": STACK_TAGS,
        }

    client = comprehend_client()
    stubber = aws_examples.stubber(client)
    stubber.add_response(
        "start_entities_detection_job", job_started("job-cand"), expected(candidate)
    )
    # The CLI's describe-endpoint example: the version the endpoint serves.
    stubber.add_response(
        "describe_endpoint",
        aws_examples.response(
            "comprehend/describe-endpoint",
            EndpointProperties={
                "EndpointArn": ENDPOINT,
                "ModelArn": version_arn("ner-active"),
                "DesiredModelArn": version_arn("ner-active"),
            },
        ),
        {"EndpointArn": ENDPOINT},
    )
    stubber.add_response(
        "start_entities_detection_job", job_started("job-active"), expected("ner-active")
    )
    stubber.add_response(
        "describe_entities_detection_job",
        job_described("job-cand", "IN_PROGRESS", candidate),
        {"JobId": "job-cand"},
    )
    stubber.add_response(
        "describe_entities_detection_job",
        job_described("job-active", "COMPLETED", "ner-active"),
        {"JobId": "job-active"},
    )
    stubber.add_response(
        "describe_entities_detection_job",
        job_described("job-cand", "FAILED", candidate, "AccessDenied on the output location"),
        {"JobId": "job-cand"},
    )
    training = {
        "model_version": candidate,
        "status": "TRAINED",
        "polls": 2,
        "job": training_event(it, candidate)["training"]["job"],
    }
    event = {"iteration": it.to_dict(), "dataset": step_dataset(dataset), "training": training}
    jobs = ComprehendTestPredictions(client)
    with stubber, clients.override("comprehend", client):
        started = predict_test_set.run(ctx, event)
        polled = jobs.poll(started["jobs"])
        failed = jobs.poll(polled)
        stubber.assert_no_pending_responses()
    assert started["status"] == "RUNNING" and started["polls"] == 0
    assert started["jobs"]["candidate"]["recognizer_arn"] == version_arn(candidate)
    assert started["jobs"]["active"]["endpoint_arn"] == ENDPOINT
    assert polled["active"]["status"] == "COMPLETED"
    assert polled["active"]["output_uri"] == output_uri("ner-active", "job-active")
    assert polled["candidate"]["status"] == "IN_PROGRESS"
    assert failed["candidate"]["status"] == "FAILED"
    assert "AccessDenied" in failed["candidate"]["message"]
    assert failed["active"] == polled["active"]  # a finished job is not described again


def test_entity_output_is_parsed_in_document_order(service_documents):
    texts = [d["text"] for d in service_documents[:4]]
    gold = [d["entities"] for d in service_documents[:4]]
    lines = [
        output_line(
            "test.txt",
            i,
            texts[i],
            [(s["begin_offset"], s["end_offset"], s["type"], 0.9 - i / 10) for s in gold[i]],
        )
        for i in (2, 0, 3)
    ] + [output_line("test.txt", 1, texts[1], [])]
    predictions = parse_entity_output(
        output_lines(archive(lines)), texts=texts, model_version="ner-v2"
    )
    assert [p.model_version for p in predictions] == ["ner-v2"] * 4
    assert all(p.model_type == "ENTITY_RECOGNIZER" and p.mode is None for p in predictions)
    assert predictions[1].entities == ()  # a document with no entities is an answer
    for i in (0, 2, 3):
        assert [(e.begin_offset, e.end_offset, e.type) for e in predictions[i].entities] == [
            (s["begin_offset"], s["end_offset"], s["type"]) for s in gold[i]
        ]
        assert [e.score for e in predictions[i].entities] == pytest.approx(
            [0.9 - i / 10] * len(gold[i])
        )


def test_output_files_are_read_whatever_their_name(service_documents):
    texts = [d["text"] for d in service_documents[:1]]
    line = output_line("test.txt", 0, texts[0], [(0, 9, "SERVICE", 0.99)])
    for name in ("output", "output.txt", "predictions.jsonl"):
        (prediction,) = parse_entity_output(
            output_lines(archive([line], name)), texts=texts, model_version="v"
        )
        assert prediction.entities[0].type == "SERVICE"


def test_a_failed_line_refuses_the_output_naming_it(service_documents):
    texts = [d["text"] for d in service_documents[:3]]
    lines = [
        output_line("test.txt", 0, texts[0], [(0, 9, "SERVICE", 0.99)]),
        json.dumps(
            {
                "File": "test.txt",
                "Line": 1,
                "ErrorCode": "INTERNAL_SERVER_ERROR",
                "ErrorMessage": "Internal server error",
            }
        ),
        output_line("test.txt", 2, texts[2], []),
        "not json",
    ]
    with pytest.raises(PredictionOutputError) as raised:
        parse_entity_output(lines, texts=texts, model_version="ner-v2")
    message = str(raised.value)
    assert "output line 2: Line 1 failed (INTERNAL_SERVER_ERROR: Internal server error)" in message
    assert "output line 4: not an entity prediction" in message
    assert "1 test documents have no prediction (Line 1)" in message


def test_spans_outside_their_document_and_repeated_lines_are_refused():
    texts = ["Amazon S3", "AWS Lambda"]
    lines = [
        output_line("test.txt", 0, texts[0] + " and more", [(0, 14, "SERVICE", 0.9)]),
        output_line("test.txt", 1, texts[1], [(0, 10, "SERVICE", 0.9)]),
        output_line("test.txt", 1, texts[1], [(0, 10, "SERVICE", 0.9)]),
        output_line("test.txt", 7, "x", []),
    ]
    with pytest.raises(PredictionOutputError) as raised:
        parse_entity_output(lines, texts=texts, model_version="v")
    message = str(raised.value)
    assert "Line 0 has spans outside its 9 characters (0-14)" in message
    assert "output line 3: Line 1 answered twice" in message
    assert "output line 4: Line 7 is outside the test set" in message


# --------------------------------------------------------------------------- real time


def test_detect_entities_on_the_recognizer_endpoint_of_the_active_pointer():
    text = "Amazon Comprehend 2017-11-27 now reads entities"
    client = comprehend_client()
    stubber = aws_examples.stubber(client)
    # The CLI's detect-entities example, with a custom recogniser's types on our text.
    stubber.add_response(
        "detect_entities",
        aws_examples.response(
            "comprehend/detect-entities",
            Entities=[
                {
                    "Score": 0.9994556307792664,
                    "Type": "SERVICE",
                    "Text": "Amazon Comprehend",
                    "BeginOffset": 0,
                    "EndOffset": 17,
                },
                {
                    "Score": 0.7708039164543152,
                    "Type": "VERSION",
                    "Text": "2017-11-27",
                    "BeginOffset": 18,
                    "EndOffset": 28,
                },
            ],
        ),
        {"Text": text, "EndpointArn": ENDPOINT},
    )
    pointer = ActiveModelPointer(
        model_version="ner-v3",
        backend="comprehend",
        model_type="ENTITY_RECOGNIZER",
        endpoint_arn=ENDPOINT,
    )
    with stubber:
        (prediction,) = backend_loader(comprehend_client=client)(pointer).predict([text])
        stubber.assert_no_pending_responses()
    assert prediction.model_type == "ENTITY_RECOGNIZER" and prediction.model_version == "ner-v3"
    assert [(e.begin_offset, e.end_offset, e.type) for e in prediction.entities] == [
        (0, 17, "SERVICE"),
        (18, 28, "VERSION"),
    ]
    assert text[0:17] == "Amazon Comprehend" and text[18:28] == "2017-11-27"
    assert min(e.score for e in prediction.entities) == pytest.approx(0.7708039164543152)


# --------------------------------------------------------------------------- promotion, rollback


def promote(ctx: Stack, client, it: Iteration, version: str) -> dict:
    candidate_key = layout.evaluation_key(version)
    ctx.lake.put_json(candidate_key, {"model_version": version, "F1Score": 0.8, "n": 40})
    event = {
        "iteration": it.to_dict(),
        "training": {
            "model_version": version,
            "status": "TRAINED",
            "polls": 3,
            "job": training_event(it, version)["training"]["job"],
        },
        "evaluation": {
            "candidate_key": candidate_key,
            "active_key": None,
            "decision": {"promote": True, "reason": "better"},
        },
    }
    with clients.override("comprehend", client):
        return promote_candidate.run(ctx, event)


def test_promotion_moves_the_recognizer_endpoint_and_rollback_moves_it_back(lambdas):
    stack = deploy_iteration_stack(
        lambdas,
        extra_env={
            "COMPREHEND_DATA_ACCESS_ROLE_ARN": ROLE,
            "COMPREHEND_RECOGNIZER_ENDPOINT_ARN": ENDPOINT,
        },
    )
    ctx = Stack(stack.environment)
    first, second = iteration("it-ner-1"), iteration("it-ner-2")
    v1, v2 = first.candidate_version("ds-a"), second.candidate_version("ds-b")
    client = comprehend_client()
    stubber = aws_examples.stubber(client)
    # The CLI's update-endpoint example "produces no output".
    for version in (v1, v2, v1):
        stubber.add_response(
            "update_endpoint",
            aws_examples.response("comprehend/update-endpoint"),
            {"EndpointArn": ENDPOINT, "DesiredModelArn": version_arn(version)},
        )
    with stubber:
        assert promote(ctx, client, first, v1)["changed"] is True
        assert promote(ctx, client, first, v1)["changed"] is False  # a retry: no second call
        assert promote(ctx, client, second, v2)["previous_model_version"] == v1
        with clients.override("comprehend", client):
            status, body = stack.api(
                "models",
                "/models/rollback",
                "POST",
                {"model_type": "ENTITY_RECOGNIZER", "reason": "span regression"},
            )
        stubber.assert_no_pending_responses()
    assert status == 200, body
    assert body["model_version"] == v1 and body["previous_model_version"] == v2
    pointer, _ = ActiveModelPointerStore(
        boto3.client("ssm"), pointer_parameter_name(PREFIX, "ENTITY_RECOGNIZER")
    ).get()
    assert pointer.model_version == v1 and pointer.endpoint_arn == ENDPOINT
    assert pointer.model_type == "ENTITY_RECOGNIZER" and pointer.mode is None
    history = Registry(boto3.client("dynamodb"), TABLE).history("ENTITY_RECOGNIZER")
    assert [(e["kind"], e["model_version"]) for e in history] == [
        ("promotion", v1),
        ("promotion", v2),
        ("rollback", v1),
    ]
    assert [e.get("recognizer_arn") for e in history] == [
        version_arn(v1),
        version_arn(v2),
        version_arn(v1),
    ]
    assert all(e.get("classifier_arn") is None for e in history)
    (audit_key,) = stack.keys("audit/rollbacks/ENTITY_RECOGNIZER/")
    audit = stack.get_json(audit_key)
    assert audit["recognizer_arn"] == version_arn(v1) and audit["classifier_arn"] is None


# --------------------------------------------------------------------------- Evaluate's inputs


def test_evaluate_reads_a_recognizer_s_job_output_and_an_endpoint_s_answers(ctx):
    from textloop.steps.evaluate import predictions_of

    texts = ["Amazon S3 and AWS Lambda", "nothing here"]
    uri = output_uri("ner-v2", "job-1")
    ctx.lake.put_bytes(
        ctx.lake.key_of(uri),
        archive(
            [
                output_line("test.txt", 1, texts[1], []),
                output_line(
                    "test.txt", 0, texts[0], [(0, 9, "SERVICE", 0.98), (14, 24, "SERVICE", 0.61)]
                ),
            ]
        ),
        "application/gzip",
    )
    batch = {
        "kind": "batch_job",
        "backend": "comprehend",
        "model_type": "ENTITY_RECOGNIZER",
        "model_version": "ner-v2",
        "output_uri": uri,
        "status": "COMPLETED",
    }
    predictions, thresholds = predictions_of(ctx, batch, texts, None)
    assert [[(e.begin_offset, e.end_offset) for e in p.entities] for p in predictions] == [
        [(0, 9), (14, 24)],
        [],
    ]
    assert thresholds is None

    client = comprehend_client()
    stubber = aws_examples.stubber(client)
    # The CLI's detect-entities example (see the real-time test above).
    for text, entities in zip(
        texts,
        [
            [
                {
                    "Score": 0.9,
                    "Type": "SERVICE",
                    "Text": "Amazon S3",
                    "BeginOffset": 0,
                    "EndOffset": 9,
                }
            ],
            [],
        ],
        strict=True,
    ):
        stubber.add_response(
            "detect_entities",
            aws_examples.response("comprehend/detect-entities", Entities=entities),
            {"Text": text, "EndpointArn": ENDPOINT},
        )
    endpoint = {
        "kind": "endpoint",
        "backend": "comprehend",
        "model_type": "ENTITY_RECOGNIZER",
        "model_version": "ner-active",
        "endpoint_arn": ENDPOINT,
        "thresholds": {"default": 0.9},
        "status": "COMPLETED",
    }
    with stubber, clients.override("comprehend", client):
        predictions, thresholds = predictions_of(ctx, endpoint, texts, None)
        stubber.assert_no_pending_responses()
    assert [len(p.entities) for p in predictions] == [1, 0]
    assert predictions[0].model_version == "ner-active" and thresholds == {"default": 0.9}

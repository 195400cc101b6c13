"""The Comprehend flywheel adapter against a Stubber-ed client (every response checked against
botocore's service model), and the ledger of what a flywheel holds.

Response shapes are those of the AWS CLI's published examples, cited beside each fixture; the
flywheel iteration id there ("20232222AEXAMPLE") does not match the API's own pattern
(``[0-9]{8}T[0-9]{6}Z``, API_DescribeFlywheelIteration), so the ids here follow the pattern,
taken from the same example's EvaluationManifestS3Prefix.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber
from textloop.adapters.comprehend_flywheel import (
    ComprehendFlywheel,
    dataset_input,
    request_token,
    task_config,
)
from textloop.domain.datasets import flywheel as ledgers

FLYWHEEL = "arn:aws:comprehend:us-west-2:111122223333:flywheel/textloop-test-classifier"
ROLE = "arn:aws:iam::111122223333:role/textloop-test-comprehend-flywheel"
KEY = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
LAKE = "s3://textloop-test-data/flywheels/DOCUMENT_CLASSIFIER/"
TAGS = [
    {"Key": "textloop:stack", "Value": "textloop-test"},
    {"Key": "textloop:model-type", "Value": "DOCUMENT_CLASSIFIER"},
]
ACTIVE = (
    "arn:aws:comprehend:us-west-2:111122223333:document-classifier/textloop-test-classifier"
    "/version/1"
)
# https://docs.aws.amazon.com/cli/latest/reference/comprehend/describe-flywheel-iteration.html
TRAINED = (
    "arn:aws:comprehend:us-west-2:111122223333:document-classifier/example-classifier"
    "/version/Comprehend-Generated-v1-bb52d585"
)
ITERATION_ID = "20230616T211026Z"


@pytest.fixture
def client():
    return boto3.client("comprehend", region_name="us-west-2")


def job(**extra):
    return {
        "backend": "comprehend",
        "model_type": "DOCUMENT_CLASSIFIER",
        "training": "flywheel",
        "flywheel_arn": FLYWHEEL,
        "model_version": "it-1-abcdef0123",
        "datasets": [
            {
                "name": "it-1-abcdef0123-train",
                "type": "TRAIN",
                "input": dataset_input(
                    "DOCUMENT_CLASSIFIER", "MULTI_CLASS", {"documents": "s3://b/train.csv"}
                ),
            }
        ],
        **extra,
    }


def flywheel_properties(status: str) -> dict:
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/describe-flywheel.html
    return {
        "FlywheelProperties": {
            "FlywheelArn": FLYWHEEL,
            "DataAccessRoleArn": ROLE,
            "TaskConfig": {
                "LanguageCode": "en",
                "DocumentClassificationConfig": {"Mode": "MULTI_CLASS", "Labels": ["ham", "spam"]},
            },
            "DataLakeS3Uri": f"{LAKE}schemaVersion=1/20230616T200543Z/",
            "DataSecurityConfig": {},
            "Status": status,
            "ModelType": "DOCUMENT_CLASSIFIER",
        }
    }


def iteration_properties(status: str, **extra) -> dict:
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/describe-flywheel-iteration.html
    return {
        "FlywheelIterationProperties": {
            "FlywheelArn": FLYWHEEL,
            "FlywheelIterationId": ITERATION_ID,
            "Status": status,
            **extra,
        }
    }


def test_a_new_flywheel_is_created_from_the_task_with_the_stack_lake_key_and_tags(client):
    stubber = Stubber(client)
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/list-flywheels.html
    stubber.add_response("list_flywheels", {"FlywheelSummaryList": []}, {})
    task = task_config(
        "DOCUMENT_CLASSIFIER", labels=["ham", "spam"], mode="MULTI_CLASS", language_code="en"
    )
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/create-flywheel.html
    stubber.add_response(
        "create_flywheel",
        {"FlywheelArn": FLYWHEEL},
        {
            "FlywheelName": "textloop-test-classifier",
            "DataAccessRoleArn": ROLE,
            "DataLakeS3Uri": LAKE,
            "ClientRequestToken": request_token("flywheel", "textloop-test-classifier"),
            "Tags": TAGS,
            "ModelType": "DOCUMENT_CLASSIFIER",
            "TaskConfig": {
                "LanguageCode": "en",
                "DocumentClassificationConfig": {"Mode": "MULTI_CLASS", "Labels": ["ham", "spam"]},
            },
            "DataSecurityConfig": {
                "ModelKmsKeyId": KEY,
                "VolumeKmsKeyId": KEY,
                "DataLakeKmsKeyId": KEY,
            },
        },
    )
    flywheel = ComprehendFlywheel(client)
    with stubber:
        assert flywheel.find("textloop-test-classifier") is None
        arn, created = flywheel.create(
            "textloop-test-classifier",
            model_type="DOCUMENT_CLASSIFIER",
            active_model_arn=None,
            task=task,
            data_lake_uri=LAKE,
            role_arn=ROLE,
            kms_key_arn=KEY,
            tags=TAGS,
        )
        stubber.assert_no_pending_responses()
    assert (arn, created) == (FLYWHEEL, True)


def test_a_flywheel_over_an_active_model_names_no_task_and_a_retry_finds_the_one_made(client):
    from botocore.stub import Stubber

    stubber = Stubber(client)
    stubber.add_response(
        "create_flywheel",
        {"FlywheelArn": FLYWHEEL},
        {
            "FlywheelName": "textloop-test-classifier",
            "ActiveModelArn": ACTIVE,
            "DataAccessRoleArn": ROLE,
            "DataLakeS3Uri": LAKE,
            "ClientRequestToken": ANY,
            "Tags": TAGS,
        },
    )
    # The retry: its create collides with the flywheel the first try made.
    stubber.add_client_error(
        "create_flywheel", "ResourceInUseException", "Flywheel already exists", 400
    )
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/list-flywheels.html
    stubber.add_response(
        "list_flywheels",
        {
            "FlywheelSummaryList": [
                {
                    "FlywheelArn": "arn:aws:comprehend:us-west-2:111122223333:flywheel/other",
                    "Status": "ACTIVE",
                    "ModelType": "DOCUMENT_CLASSIFIER",
                },
                {
                    "FlywheelArn": FLYWHEEL,
                    "ActiveModelArn": ACTIVE,
                    "DataLakeS3Uri": LAKE,
                    "Status": "CREATING",
                    "ModelType": "DOCUMENT_CLASSIFIER",
                },
            ]
        },
        {},
    )
    flywheel = ComprehendFlywheel(client)
    kwargs = dict(
        model_type="DOCUMENT_CLASSIFIER",
        active_model_arn=ACTIVE,
        task={"LanguageCode": "en"},
        data_lake_uri=LAKE,
        role_arn=ROLE,
        kms_key_arn=None,
        tags=TAGS,
    )
    with stubber:
        first = flywheel.create("textloop-test-classifier", **kwargs)
        again = flywheel.create("textloop-test-classifier", **kwargs)
        stubber.assert_no_pending_responses()
    assert first == (FLYWHEEL, True)
    assert again == (FLYWHEEL, False)


def test_nothing_is_created_while_the_flywheel_is_still_being_created(client):
    stubber = Stubber(client)
    stubber.add_response(
        "describe_flywheel", flywheel_properties("CREATING"), {"FlywheelArn": FLYWHEEL}
    )
    with stubber:
        status, out = ComprehendFlywheel(client).advance(job(), TAGS)
        stubber.assert_no_pending_responses()
    assert status == "CREATING"
    assert "arn" not in out["datasets"][0] and "flywheel_iteration_id" not in out


def dataset_created(stubber, name: str, status: str, **extra) -> str:
    arn = f"{FLYWHEEL}/dataset/{name}"
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/create-dataset.html
    stubber.add_response(
        "create_dataset",
        {"DatasetArn": arn},
        {
            "FlywheelArn": FLYWHEEL,
            "DatasetName": name,
            "DatasetType": "TRAIN",
            "InputDataConfig": {
                "DataFormat": "COMPREHEND_CSV",
                "DocumentClassifierInputDataConfig": {"S3Uri": "s3://b/train.csv"},
            },
            "ClientRequestToken": request_token(FLYWHEEL, name),
            "Tags": TAGS,
        },
    )
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/describe-dataset.html
    stubber.add_response(
        "describe_dataset",
        {
            "DatasetProperties": {
                "DatasetArn": arn,
                "DatasetName": name,
                "DatasetType": "TRAIN",
                "Status": status,
                **extra,
            }
        },
        {"DatasetArn": arn},
    )
    return arn


def test_the_data_set_then_the_iteration_start_and_a_retried_start_starts_nothing_new(client):
    stubber = Stubber(client)
    stubber.add_response(
        "describe_flywheel", flywheel_properties("ACTIVE"), {"FlywheelArn": FLYWHEEL}
    )
    arn = dataset_created(stubber, "it-1-abcdef0123-train", "CREATING")
    stubber.add_response(
        "describe_dataset",
        {"DatasetProperties": {"DatasetArn": arn, "Status": "COMPLETED"}},
        {"DatasetArn": arn},
    )
    token = request_token(FLYWHEEL, "iteration", "it-1-abcdef0123")
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/start-flywheel-iteration.html
    started = {"FlywheelArn": FLYWHEEL, "FlywheelIterationId": ITERATION_ID}
    stubber.add_response(
        "start_flywheel_iteration", started, {"FlywheelArn": FLYWHEEL, "ClientRequestToken": token}
    )
    stubber.add_response(
        "describe_flywheel_iteration",
        iteration_properties("TRAINING"),
        {"FlywheelArn": FLYWHEEL, "FlywheelIterationId": ITERATION_ID},
    )
    # A retried step (the job as the first try began it): the same token, the same iteration.
    stubber.add_response(
        "describe_dataset",
        {"DatasetProperties": {"DatasetArn": arn, "Status": "COMPLETED"}},
        {"DatasetArn": arn},
    )
    stubber.add_response(
        "start_flywheel_iteration", started, {"FlywheelArn": FLYWHEEL, "ClientRequestToken": token}
    )
    stubber.add_response(
        "describe_flywheel_iteration",
        iteration_properties("TRAINING"),
        {"FlywheelArn": FLYWHEEL, "FlywheelIterationId": ITERATION_ID},
    )
    flywheel = ComprehendFlywheel(client)
    with stubber:
        status, first = flywheel.advance(job(), TAGS)
        assert status == "CREATING" and first["datasets"][0]["arn"] == arn
        status, second = flywheel.advance(first, TAGS)
        assert status == "TRAINING" and second["flywheel_iteration_id"] == ITERATION_ID
        assert second["train_dataset_arn"] == arn
        status, retried = flywheel.advance(first, TAGS)
        stubber.assert_no_pending_responses()
    assert status == "TRAINING" and retried["flywheel_iteration_id"] == ITERATION_ID


def test_a_completed_iteration_is_the_trained_candidate_with_the_flywheel_metrics(client):
    stubber = Stubber(client)
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/describe-flywheel-iteration.html
    evaluated = {
        "AverageF1Score": 0.7742663922375772,
        "AveragePrecision": 0.8287636394041166,
        "AverageRecall": 0.7427084833645399,
        "AverageAccuracy": 0.8795394154118689,
    }
    trained = {
        "AverageF1Score": 0.9767700253081214,
        "AveragePrecision": 0.9767700253081214,
        "AverageRecall": 0.9767700253081214,
        "AverageAccuracy": 0.9858281665190434,
    }
    stubber.add_response(
        "describe_flywheel_iteration",
        iteration_properties(
            "COMPLETED",
            Message="FULL_ITERATION: Flywheel iteration performed all functions successfully.",
            EvaluatedModelArn=ACTIVE,
            EvaluatedModelMetrics=evaluated,
            TrainedModelArn=TRAINED,
            TrainedModelMetrics=trained,
        ),
        {"FlywheelArn": FLYWHEEL, "FlywheelIterationId": ITERATION_ID},
    )
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/tag-resource.html (no output)
    stubber.add_response("tag_resource", {}, {"ResourceArn": TRAINED, "Tags": TAGS})
    with stubber:
        status, out = ComprehendFlywheel(client).advance(
            job(flywheel_iteration_id=ITERATION_ID), TAGS
        )
        stubber.assert_no_pending_responses()
    assert status == "TRAINED"
    assert out["classifier_arn"] == TRAINED
    assert out["flywheel_metrics"]["trained_model_metrics"] == trained
    assert out["flywheel_metrics"]["evaluated_model_metrics"] == evaluated
    assert out["flywheel_metrics"]["evaluated_model_arn"] == ACTIVE


@pytest.mark.parametrize(
    ("raw", "status"),
    [("FAILED", "IN_ERROR"), ("STOPPED", "STOPPED"), ("EVALUATING", "EVALUATING")],
)
def test_a_failed_or_stopped_iteration_says_so_with_comprehend_message(client, raw, status):
    stubber = Stubber(client)
    stubber.add_response(
        "describe_flywheel_iteration",
        iteration_properties(raw, Message="Not enough labelled documents for label spam"),
        {"FlywheelArn": FLYWHEEL, "FlywheelIterationId": ITERATION_ID},
    )
    with stubber:
        got, out = ComprehendFlywheel(client).advance(job(flywheel_iteration_id=ITERATION_ID), TAGS)
    assert got == status
    assert out["message"] == "Not enough labelled documents for label spam"
    assert "classifier_arn" not in out


def test_a_completed_iteration_without_a_trained_model_fails(client):
    stubber = Stubber(client)
    stubber.add_response(
        "describe_flywheel_iteration",
        iteration_properties("COMPLETED", Message="EVALUATION_ONLY: no new data"),
        {"FlywheelArn": FLYWHEEL, "FlywheelIterationId": ITERATION_ID},
    )
    with stubber:
        got, out = ComprehendFlywheel(client).advance(job(flywheel_iteration_id=ITERATION_ID), TAGS)
    assert got == "IN_ERROR" and "trained no model" in out["message"]


def test_a_failed_data_set_fails_the_job_before_any_iteration_starts(client):
    stubber = Stubber(client)
    stubber.add_response(
        "describe_flywheel", flywheel_properties("ACTIVE"), {"FlywheelArn": FLYWHEEL}
    )
    dataset_created(stubber, "it-1-abcdef0123-train", "FAILED", Message="Invalid CSV on line 3")
    with stubber:
        got, out = ComprehendFlywheel(client).advance(job(), TAGS)
        stubber.assert_no_pending_responses()
    assert got == "IN_ERROR" and "Invalid CSV on line 3" in out["message"]


def test_a_failed_flywheel_fails_the_job(client):
    stubber = Stubber(client)
    failed = flywheel_properties("FAILED")
    failed["FlywheelProperties"]["Message"] = "Access denied to the data lake"
    stubber.add_response("describe_flywheel", failed, {"FlywheelArn": FLYWHEEL})
    with stubber:
        got, out = ComprehendFlywheel(client).advance(job(), TAGS)
    assert got == "IN_ERROR" and "Access denied" in out["message"]


def test_the_entity_data_set_input_is_documents_and_annotations():
    assert dataset_input(
        "ENTITY_RECOGNIZER", None, {"documents": "s3://b/d.txt", "annotations": "s3://b/a.csv"}
    ) == {
        "DataFormat": "COMPREHEND_CSV",
        "EntityRecognizerInputDataConfig": {
            "Documents": {"S3Uri": "s3://b/d.txt", "InputFormat": "ONE_DOC_PER_LINE"},
            "Annotations": {"S3Uri": "s3://b/a.csv"},
        },
    }
    assert dataset_input("DOCUMENT_CLASSIFIER", "MULTI_LABEL", {"documents": "s3://b/t.csv"})[
        "DocumentClassifierInputDataConfig"
    ] == {"S3Uri": "s3://b/t.csv", "LabelDelimiter": "|"}
    assert task_config("ENTITY_RECOGNIZER", labels=["A", "B"], mode=None, language_code="en") == {
        "LanguageCode": "en",
        "EntityRecognitionConfig": {"EntityTypes": [{"Type": "A"}, {"Type": "B"}]},
    }


# --------------------------------------------------------------------------- the ledger


def doc(text, *labels):
    return {"text": text, "labels": list(labels)}


def test_an_increment_holds_only_what_the_flywheel_does_not_hold():
    mt = "DOCUMENT_CLASSIFIER"
    first = ledgers.increment(
        mt,
        {"train": [doc("a", "X"), doc("b", "Y")], "test": [doc("t", "X")]},
        ledgers.empty_ledger(mt),
    )
    assert [d["text"] for d in first.train] == ["a", "b"] and [d["text"] for d in first.test] == [
        "t"
    ]
    ledger = ledgers.with_iteration(
        ledgers.empty_ledger(mt),
        flywheel_arn=FLYWHEEL,
        model_version="v1",
        entries=ledgers.manifest_entries(mt, first, "v1"),
        dataset_names=["v1-train", "v1-test"],
        manifest_key="m1",
    )
    # The same iteration again: the same ledger.
    assert (
        ledgers.with_iteration(
            ledger,
            flywheel_arn=FLYWHEEL,
            model_version="v1",
            entries=ledgers.manifest_entries(mt, first, "v1"),
            dataset_names=["v1-test", "v1-train"],
            manifest_key="m1",
        )
        == ledger
    )
    second = ledgers.increment(
        mt,
        # "A" normalises to the key of "a"; "b" changed its label; "c" is an oversampled pair.
        {
            "train": [doc("a", "X"), doc("b", "Z"), doc("c", "Y"), doc("c", "Y")],
            "test": [doc("t", "X"), doc("u", "Y")],
        },
        ledger,
    )
    assert [d["text"] for d in second.train] == ["c"]
    assert [d["text"] for d in second.test] == ["u"]
    assert len(second.relabelled) == 1


def test_an_iteration_whose_data_sets_the_flywheel_lacks_gives_its_documents_back():
    mt = "DOCUMENT_CLASSIFIER"
    inc = ledgers.increment(mt, {"train": [doc("a", "X")]}, ledgers.empty_ledger(mt))
    ledger = ledgers.with_iteration(
        ledgers.empty_ledger(mt),
        flywheel_arn=FLYWHEEL,
        model_version="v1",
        entries=ledgers.manifest_entries(mt, inc, "v1"),
        dataset_names=["v1-train"],
        manifest_key="m1",
    )
    assert ledgers.reconciled(ledger, {"v1-train"}) == ledger
    dropped = ledgers.reconciled(ledger, set())
    assert dropped["documents"] == {} and dropped["iterations"] == {}
    assert [
        d["text"] for d in ledgers.increment(mt, {"train": [doc("a", "X")]}, dropped).train
    ] == ["a"]


# --------------------------------------------------------------------------- the Train step


NER_FLYWHEEL = "arn:aws:comprehend:us-east-1:123456789012:flywheel/textloop-test-recognizer"
NER_ENDPOINT = "arn:aws:comprehend:us-east-1:123456789012:entity-recognizer-endpoint/textloop-ner"
NER_ACTIVE = "arn:aws:comprehend:us-east-1:123456789012:entity-recognizer/textloop-ner/version/v1"


@pytest.fixture
def ner_ctx(aws):
    from textloop.adapters.stack import Stack

    from tests.support.iteration_stack import BUCKET, PREFIX, TABLE
    from tests.support.stack import create_registry_table

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    create_registry_table(TABLE)
    return Stack(
        {
            "DATA_LAKE_BUCKET": BUCKET,
            "REGISTRY_TABLE": TABLE,
            "ACTIVE_MODEL_PARAMETER_PREFIX": PREFIX,
            "STACK_NAME": "textloop-test",
            "COMPREHEND_FLYWHEEL_ROLE_ARN": ROLE,
            "COMPREHEND_KMS_KEY_ARN": KEY,
            "COMPREHEND_RECOGNIZER_FLYWHEEL_NAME": "textloop-test-recognizer",
            "COMPREHEND_RECOGNIZER_ENDPOINT_ARN": NER_ENDPOINT,
        }
    )


def put_build(ctx, version: str, documents, split_state=None):
    """A data set as BuildDatasets writes it (the real builder), under ``version``."""
    from textloop.domain import layout
    from textloop.domain.datasets.build import build_datasets

    build = build_datasets(
        model_type="ENTITY_RECOGNIZER",
        original_documents=documents,
        split_state=split_state,
        strict=False,
    )
    for name, body in build.files.items():
        ctx.lake.put_text(layout.dataset_key(version, name), body, "text/plain")
    manifest_key = layout.dataset_key(version, "manifest.json")
    ctx.lake.put_json(manifest_key, build.manifest)
    return build, {
        "dataset_version": version,
        "manifest_key": manifest_key,
        "train_uri": ctx.lake.uri(layout.dataset_key(version, "train.txt")),
        "test_uri": ctx.lake.uri(layout.dataset_key(version, "test.txt")),
        "test_set_hash": build.test_set_hash,
    }


def test_a_flywheel_begun_from_the_active_recognizer_is_not_given_its_data_again(ner_ctx):
    from textloop.adapters import clients
    from textloop.adapters.active_model import (
        ActiveModelPointer,
        ActiveModelPointerStore,
        pointer_parameter_name,
    )
    from textloop.domain import layout
    from textloop.domain.datasets.formats import parse_entity_files
    from textloop.domain.iteration import Iteration, IterationConfig
    from textloop.steps import train

    from tests.support.iteration_stack import PREFIX
    from tests.support.ner import gold_documents

    gold = gold_documents()
    first, _ = put_build(ner_ctx, "ds-ner-1", gold[:100])
    second, dataset = put_build(ner_ctx, "ds-ner-2", gold, first.split_state)
    ActiveModelPointerStore(
        boto3.client("ssm"), pointer_parameter_name(PREFIX, "ENTITY_RECOGNIZER")
    ).put(
        ActiveModelPointer(
            model_version="v1",
            backend="comprehend",
            model_type="ENTITY_RECOGNIZER",
            endpoint_arn=NER_ENDPOINT,
        )
    )
    it = Iteration(
        iteration_id="it-ner-fw",
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:textloop:it-ner-fw",
        started_at="2026-12-01T10:00:00.000Z",
        model_type="ENTITY_RECOGNIZER",
        mode=None,
        config=IterationConfig(model_backend="comprehend", comprehend_training="flywheel"),
        lock={},
    )
    version = it.candidate_version("ds-ner-2")
    lake = f"s3://{ner_ctx.lake.bucket}/datasets/ds-ner-1/"
    tags = [
        {"Key": "textloop:stack", "Value": "textloop-test"},
        {"Key": "textloop:model-type", "Value": "ENTITY_RECOGNIZER"},
    ]
    client = boto3.client("comprehend", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response("list_flywheels", {"FlywheelSummaryList": []}, {})
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/describe-endpoint.html
    stubber.add_response(
        "describe_endpoint",
        {"EndpointProperties": {"EndpointArn": NER_ENDPOINT, "ModelArn": NER_ACTIVE}},
        {"EndpointArn": NER_ENDPOINT},
    )
    stubber.add_response(
        "create_flywheel",
        {"FlywheelArn": NER_FLYWHEEL},
        {
            "FlywheelName": "textloop-test-recognizer",
            "ActiveModelArn": NER_ACTIVE,
            "DataAccessRoleArn": ROLE,
            "DataLakeS3Uri": f"s3://{ner_ctx.lake.bucket}/flywheels/ENTITY_RECOGNIZER/",
            "ClientRequestToken": request_token("flywheel", "textloop-test-recognizer"),
            "Tags": tags,
            "DataSecurityConfig": {
                "ModelKmsKeyId": KEY,
                "VolumeKmsKeyId": KEY,
                "DataLakeKmsKeyId": KEY,
            },
        },
    )
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/describe-entity-recognizer.html
    # (here with the annotations and the test set a textloop version is trained on).
    stubber.add_response(
        "describe_entity_recognizer",
        {
            "EntityRecognizerProperties": {
                "EntityRecognizerArn": NER_ACTIVE,
                "LanguageCode": "en",
                "Status": "TRAINED",
                "InputDataConfig": {
                    "DataFormat": "COMPREHEND_CSV",
                    "EntityTypes": [{"Type": t} for t in first.manifest["labels"]],
                    "Documents": {
                        "S3Uri": f"{lake}train.txt",
                        "TestS3Uri": f"{lake}test.txt",
                        "InputFormat": "ONE_DOC_PER_LINE",
                    },
                    "Annotations": {
                        "S3Uri": f"{lake}train-annotations.csv",
                        "TestS3Uri": f"{lake}test-annotations.csv",
                    },
                },
                "VersionName": "v1",
            }
        },
        {"EntityRecognizerArn": NER_ACTIVE},
    )
    stubber.add_response(
        "describe_flywheel",
        {"FlywheelProperties": {"FlywheelArn": NER_FLYWHEEL, "Status": "CREATING"}},
        {"FlywheelArn": NER_FLYWHEEL},
    )
    # The retried step: the flywheel is found, the manifest reused, the data sets named and
    # tokened as before; the third try finds the TRAIN data set the second one made.
    for attempt in (2, 3):
        stubber.add_response(
            "list_flywheels",
            {"FlywheelSummaryList": [{"FlywheelArn": NER_FLYWHEEL, "Status": "ACTIVE"}]},
            {},
        )
        stubber.add_response(
            "describe_flywheel",
            {"FlywheelProperties": {"FlywheelArn": NER_FLYWHEEL, "Status": "ACTIVE"}},
            {"FlywheelArn": NER_FLYWHEEL},
        )
        names = [f"{version}-{part}" for part in ("train", "test")]
        arns = {name: f"{NER_FLYWHEEL}/dataset/{name}" for name in names}
        for name in names:
            expected = {
                "FlywheelArn": NER_FLYWHEEL,
                "DatasetName": name,
                "DatasetType": name.rsplit("-", 1)[1].upper(),
                "InputDataConfig": ANY,
                "ClientRequestToken": request_token(NER_FLYWHEEL, name),
                "Tags": tags,
            }
            if attempt == 2:
                stubber.add_response("create_dataset", {"DatasetArn": arns[name]}, expected)
            else:
                stubber.add_client_error("create_dataset", "ResourceInUseException", "exists", 400)
                # https://docs.aws.amazon.com/cli/latest/reference/comprehend/list-datasets.html
                stubber.add_response(
                    "list_datasets",
                    {
                        "DatasetPropertiesList": [
                            {"DatasetArn": arn, "DatasetName": n, "Status": "CREATING"}
                            for n, arn in arns.items()
                        ]
                    },
                    {"FlywheelArn": NER_FLYWHEEL},
                )
        stubber.add_response(
            "describe_dataset",
            {"DatasetProperties": {"DatasetArn": arns[names[0]], "Status": "CREATING"}},
            {"DatasetArn": arns[names[0]]},
        )
        stubber.add_response(
            "describe_dataset",
            {"DatasetProperties": {"DatasetArn": arns[names[1]], "Status": "CREATING"}},
            {"DatasetArn": arns[names[1]]},
        )
    event = {"iteration": it.to_dict(), "dataset": dataset}
    with stubber, clients.override("comprehend", client):
        results = [train.run(ner_ctx, event) for _ in range(3)]
        stubber.assert_no_pending_responses()
    assert [r["status"] for r in results] == ["CREATING", "CREATING", "CREATING"]
    assert results[1]["job"]["datasets"] == results[2]["job"]["datasets"]
    # Only what the active version was not trained or tested on goes to the flywheel.
    known = {d["text"] for d in [*first.train, *first.test]}
    new_train = [d for d in second.train if d["text"] not in known]
    assert new_train and len(new_train) < len(second.train)
    given = parse_entity_files(
        ner_ctx.lake.get_text(
            layout.flywheel_dataset_key("ENTITY_RECOGNIZER", version, "train.txt")
        ),
        ner_ctx.lake.get_text(
            layout.flywheel_dataset_key("ENTITY_RECOGNIZER", version, "train-annotations.csv")
        ),
        "train.txt",
    )
    assert sorted(d["text"] for d in given) == sorted(d["text"] for d in new_train)
    new_test = [d for d in second.test if d["text"] not in known]
    assert new_test and [d["type"] for d in results[0]["job"]["datasets"]] == ["TRAIN", "TEST"]
    assert [d["arn"] for d in results[2]["job"]["datasets"]] == list(arns.values())
    ledger = ner_ctx.lake.get_json(layout.flywheel_ledger_key("ENTITY_RECOGNIZER"))
    assert sorted(ledger["iterations"]) == sorted(["origin-v1", version])
    assert len(ledger["documents"]) == len(known) + len(new_train) + len(new_test)


# --------------------------------------------------------------------------- the setting


def test_comprehend_training_is_a_setting_per_model_type():
    from textloop.domain.errors import InvalidIterationInput
    from textloop.domain.iteration import IterationConfig, IterationInput, deployment_config

    # What Terraform writes for comprehend_training = { ENTITY_RECOGNIZER = "flywheel" }.
    deployment = deployment_config(
        json.dumps(
            {
                "model_backend": "comprehend",
                "ENTITY_RECOGNIZER": {"comprehend_training": "flywheel"},
            }
        )
    )
    assert deployment.for_model_type("ENTITY_RECOGNIZER").comprehend_training == "flywheel"
    assert deployment.for_model_type("DOCUMENT_CLASSIFIER").comprehend_training == "versions"
    chosen = IterationInput.parse({"config": {"comprehend_training": "flywheel"}}, deployment)
    assert chosen.config.comprehend_training == "flywheel"
    with pytest.raises(InvalidIterationInput, match="comprehend_training"):
        IterationInput.parse({"config": {"comprehend_training": "flywheels"}}, deployment)
    # An execution that started before the setting existed trained versions.
    old = {k: v for k, v in IterationConfig().to_dict().items() if k != "comprehend_training"}
    assert IterationConfig.from_dict(old).comprehend_training == "versions"

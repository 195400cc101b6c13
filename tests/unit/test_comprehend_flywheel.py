"""The Comprehend flywheel adapter against a Stubber-ed client (every response checked against
botocore's service model), and the ledger of what a flywheel holds.

Response shapes are those of the AWS CLI's published examples, cited beside each fixture; the
flywheel iteration id there ("20232222AEXAMPLE") does not match the API's own pattern
(``[0-9]{8}T[0-9]{6}Z``, API_DescribeFlywheelIteration), so the ids here follow the pattern,
taken from the same example's EvaluationManifestS3Prefix.
"""

from __future__ import annotations

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
    with stubber:
        status, out = ComprehendFlywheel(client).advance(
            job(flywheel_iteration_id=ITERATION_ID), TAGS
        )
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

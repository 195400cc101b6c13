"""The Comprehend flywheel adapter against a Stubber-ed client (every response checked against
botocore's service model), and the ledger of what a flywheel holds.

Each response is the AWS CLI's published example (tests/fixtures/aws/comprehend/, each naming
its page), changed only where it must match the test's requests; the flywheel iteration id there
("20232222AEXAMPLE") does not match the API's own pattern (``[0-9]{8}T[0-9]{6}Z``,
API_DescribeFlywheelIteration), so the ids here follow the pattern, taken from the same
example's EvaluationManifestS3Prefix.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY
from textloop.adapters.comprehend_flywheel import (
    ComprehendFlywheel,
    dataset_input,
    request_token,
    task_config,
)
from textloop.domain.datasets import flywheel as ledgers

from tests.support import aws_examples
from tests.support.aws_examples import DROP

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
# The trained version's name in the CLI's describe-flywheel-iteration example.
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
                    "DOCUMENT_CLASSIFIER",
                    "MULTI_CLASS",
                    {"documents": "s3://textloop-test-data/datasets/train.csv"},
                ),
            }
        ],
        **extra,
    }


def flywheel_properties(status: str, **changes) -> dict:
    """The CLI's describe-flywheel example (its task is this test's: MULTI_CLASS ham/spam), for
    this stack's flywheel, made from the task (no active model yet)."""
    return aws_examples.response(
        "comprehend/describe-flywheel",
        FlywheelProperties={
            "FlywheelArn": FLYWHEEL,
            "ActiveModelArn": DROP,
            "DataAccessRoleArn": ROLE,
            "DataLakeS3Uri": f"{LAKE}schemaVersion=1/20230616T200543Z/",
            "Status": status,
            **changes,
        },
    )


NOT_ENDED = aws_examples.FLYWHEEL_ITERATION_NOT_ENDED


def iteration_properties(status: str, **changes) -> dict:
    """The CLI's describe-flywheel-iteration example for this flywheel's iteration: as
    published when COMPLETED (with ``changes``), without its results otherwise."""
    base = {} if status == "COMPLETED" else NOT_ENDED
    return aws_examples.response(
        "comprehend/describe-flywheel-iteration",
        FlywheelIterationProperties={
            **base,
            "FlywheelArn": FLYWHEEL,
            "FlywheelIterationId": ITERATION_ID,
            "Status": status,
            **changes,
        },
    )


def no_flywheels() -> dict:
    return aws_examples.response("comprehend/list-flywheels", FlywheelSummaryList=[])


def flywheel_summary(arn: str, **changes) -> dict:
    """One FlywheelSummaryList item of the CLI's list-flywheels example, for ``arn``."""
    return aws_examples.properties("comprehend/list-flywheels", FlywheelArn=arn, **changes)


def flywheel_created(arn: str) -> dict:
    return aws_examples.response("comprehend/create-flywheel", FlywheelArn=arn)


def dataset_described(arn: str, name: str, part: str, status: str, **changes) -> dict:
    """The CLI's describe-dataset example for the data set ``name`` at ``arn``."""
    return aws_examples.response(
        "comprehend/describe-dataset",
        DatasetProperties={
            "DatasetArn": arn,
            "DatasetName": name,
            "DatasetType": part,
            "DatasetS3Uri": f"{LAKE}schemaVersion=1/20230616T200543Z/datasets/{name}/"
            "20230616T203710Z/",
            "Status": status,
            **changes,
        },
    )


def test_a_new_flywheel_is_created_from_the_task_with_the_stack_lake_key_and_tags(client):
    stubber = aws_examples.stubber(client)
    stubber.add_response("list_flywheels", no_flywheels(), {})
    task = task_config(
        "DOCUMENT_CLASSIFIER", labels=["ham", "spam"], mode="MULTI_CLASS", language_code="en"
    )
    stubber.add_response(
        "create_flywheel",
        flywheel_created(FLYWHEEL),
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

    stubber = aws_examples.stubber(client)
    stubber.add_response(
        "create_flywheel",
        flywheel_created(FLYWHEEL),
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
    # The published list (its first flywheel is somebody else's), then the one the first try made.
    (other, _) = aws_examples.response("comprehend/list-flywheels")["FlywheelSummaryList"]
    ours = flywheel_summary(
        FLYWHEEL,
        ActiveModelArn=ACTIVE,
        DataLakeS3Uri=LAKE,
        Status="CREATING",
        LatestFlywheelIteration=DROP,
    )
    stubber.add_response(
        "list_flywheels",
        aws_examples.response("comprehend/list-flywheels", FlywheelSummaryList=[other, ours]),
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
    stubber = aws_examples.stubber(client)
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
    stubber.add_response(
        "create_dataset",
        aws_examples.response("comprehend/create-dataset", DatasetArn=arn),
        {
            "FlywheelArn": FLYWHEEL,
            "DatasetName": name,
            "DatasetType": "TRAIN",
            "InputDataConfig": {
                "DataFormat": "COMPREHEND_CSV",
                "DocumentClassifierInputDataConfig": {
                    "S3Uri": "s3://textloop-test-data/datasets/train.csv"
                },
            },
            "ClientRequestToken": request_token(FLYWHEEL, name),
            "Tags": TAGS,
        },
    )
    stubber.add_response(
        "describe_dataset",
        dataset_described(arn, name, "TRAIN", status, **extra),
        {"DatasetArn": arn},
    )
    return arn


def test_the_data_set_then_the_iteration_start_and_a_retried_start_starts_nothing_new(client):
    stubber = aws_examples.stubber(client)
    stubber.add_response(
        "describe_flywheel", flywheel_properties("ACTIVE"), {"FlywheelArn": FLYWHEEL}
    )
    arn = dataset_created(stubber, "it-1-abcdef0123-train", "CREATING")
    stubber.add_response(
        "describe_dataset",
        dataset_described(arn, "it-1-abcdef0123-train", "TRAIN", "COMPLETED"),
        {"DatasetArn": arn},
    )
    token = request_token(FLYWHEEL, "iteration", "it-1-abcdef0123")
    started = aws_examples.response(
        "comprehend/start-flywheel-iteration",
        FlywheelArn=FLYWHEEL,
        FlywheelIterationId=ITERATION_ID,
    )
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
        dataset_described(arn, "it-1-abcdef0123-train", "TRAIN", "COMPLETED"),
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
    stubber = aws_examples.stubber(client)
    published = aws_examples.example("comprehend/describe-flywheel-iteration").body[
        "FlywheelIterationProperties"
    ]
    evaluated, trained = published["EvaluatedModelMetrics"], published["TrainedModelMetrics"]
    # As published (message, both models' metrics), for this flywheel and its active model.
    stubber.add_response(
        "describe_flywheel_iteration",
        iteration_properties("COMPLETED", EvaluatedModelArn=ACTIVE, TrainedModelArn=TRAINED),
        {"FlywheelArn": FLYWHEEL, "FlywheelIterationId": ITERATION_ID},
    )
    stubber.add_response(
        "tag_resource",
        aws_examples.response("comprehend/tag-resource"),
        {"ResourceArn": TRAINED, "Tags": TAGS},
    )
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
    stubber = aws_examples.stubber(client)
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
    stubber = aws_examples.stubber(client)
    stubber.add_response(
        "describe_flywheel_iteration",
        iteration_properties(
            "COMPLETED",
            Message="EVALUATION_ONLY: no new data",
            TrainedModelArn=DROP,
            TrainedModelMetrics=DROP,
        ),
        {"FlywheelArn": FLYWHEEL, "FlywheelIterationId": ITERATION_ID},
    )
    with stubber:
        got, out = ComprehendFlywheel(client).advance(job(flywheel_iteration_id=ITERATION_ID), TAGS)
    assert got == "IN_ERROR" and "trained no model" in out["message"]


def test_a_failed_data_set_fails_the_job_before_any_iteration_starts(client):
    stubber = aws_examples.stubber(client)
    stubber.add_response(
        "describe_flywheel", flywheel_properties("ACTIVE"), {"FlywheelArn": FLYWHEEL}
    )
    dataset_created(stubber, "it-1-abcdef0123-train", "FAILED", Message="Invalid CSV on line 3")
    with stubber:
        got, out = ComprehendFlywheel(client).advance(job(), TAGS)
        stubber.assert_no_pending_responses()
    assert got == "IN_ERROR" and "Invalid CSV on line 3" in out["message"]


def test_a_failed_flywheel_fails_the_job(client):
    stubber = aws_examples.stubber(client)
    failed = flywheel_properties("FAILED", Message="Access denied to the data lake")
    stubber.add_response("describe_flywheel", failed, {"FlywheelArn": FLYWHEEL})
    with stubber:
        got, out = ComprehendFlywheel(client).advance(job(), TAGS)
    assert got == "IN_ERROR" and "Access denied" in out["message"]


def test_the_entity_data_set_input_is_documents_and_annotations():
    assert dataset_input(
        "ENTITY_RECOGNIZER",
        None,
        {
            "documents": "s3://textloop-test-data/datasets/d.txt",
            "annotations": "s3://textloop-test-data/datasets/a.csv",
        },
    ) == {
        "DataFormat": "COMPREHEND_CSV",
        "EntityRecognizerInputDataConfig": {
            "Documents": {
                "S3Uri": "s3://textloop-test-data/datasets/d.txt",
                "InputFormat": "ONE_DOC_PER_LINE",
            },
            "Annotations": {"S3Uri": "s3://textloop-test-data/datasets/a.csv"},
        },
    }
    assert dataset_input(
        "DOCUMENT_CLASSIFIER",
        "MULTI_LABEL",
        {"documents": "s3://textloop-test-data/datasets/t.csv"},
    )["DocumentClassifierInputDataConfig"] == {
        "S3Uri": "s3://textloop-test-data/datasets/t.csv",
        "LabelDelimiter": "|",
    }
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
    stubber = aws_examples.stubber(client)
    stubber.add_response("list_flywheels", no_flywheels(), {})
    stubber.add_response(
        "describe_endpoint",
        aws_examples.response(
            "comprehend/describe-endpoint",
            EndpointProperties={
                "EndpointArn": NER_ENDPOINT,
                "ModelArn": NER_ACTIVE,
                "DesiredModelArn": NER_ACTIVE,
            },
        ),
        {"EndpointArn": NER_ENDPOINT},
    )
    stubber.add_response(
        "create_flywheel",
        flywheel_created(NER_FLYWHEEL),
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
    # The CLI's describe-entity-recognizer example, here with the annotations and the test set
    # a textloop version is trained on (the published one was trained on an entity list).
    stubber.add_response(
        "describe_entity_recognizer",
        aws_examples.response(
            "comprehend/describe-entity-recognizer",
            EntityRecognizerProperties={
                "EntityRecognizerArn": NER_ACTIVE,
                "InputDataConfig": {
                    "EntityTypes": [{"Type": t} for t in first.manifest["labels"]],
                    "Documents": {"S3Uri": f"{lake}train.txt", "TestS3Uri": f"{lake}test.txt"},
                    "EntityList": DROP,
                    "Annotations": {
                        "S3Uri": f"{lake}train-annotations.csv",
                        "TestS3Uri": f"{lake}test-annotations.csv",
                    },
                },
                "RecognizerMetadata": DROP,
                "VersionName": "v1",
            },
        ),
        {"EntityRecognizerArn": NER_ACTIVE},
    )
    # The recogniser's flywheel, begun from its active version.
    ner_flywheel = {
        "FlywheelArn": NER_FLYWHEEL,
        "ActiveModelArn": NER_ACTIVE,
        "TaskConfig": {
            "DocumentClassificationConfig": DROP,
            "EntityRecognitionConfig": {
                "EntityTypes": [{"Type": t} for t in first.manifest["labels"]]
            },
        },
        "DataLakeS3Uri": f"s3://{ner_ctx.lake.bucket}/flywheels/ENTITY_RECOGNIZER/",
        "DataSecurityConfig": {
            "ModelKmsKeyId": KEY,
            "VolumeKmsKeyId": KEY,
            "DataLakeKmsKeyId": KEY,
        },
        "ModelType": "ENTITY_RECOGNIZER",
    }
    stubber.add_response(
        "describe_flywheel",
        flywheel_properties("CREATING", **ner_flywheel),
        {"FlywheelArn": NER_FLYWHEEL},
    )
    # The retried step: the flywheel is found, the manifest reused, the data sets named and
    # tokened as before; the third try finds the TRAIN data set the second one made.
    for attempt in (2, 3):
        summary = flywheel_summary(
            NER_FLYWHEEL,
            ActiveModelArn=NER_ACTIVE,
            DataLakeS3Uri=ner_flywheel["DataLakeS3Uri"],
            ModelType="ENTITY_RECOGNIZER",
            LatestFlywheelIteration=DROP,
        )
        stubber.add_response(
            "list_flywheels",
            aws_examples.response("comprehend/list-flywheels", FlywheelSummaryList=[summary]),
            {},
        )
        stubber.add_response(
            "describe_flywheel",
            flywheel_properties("ACTIVE", **ner_flywheel),
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
                stubber.add_response(
                    "create_dataset",
                    aws_examples.response("comprehend/create-dataset", DatasetArn=arns[name]),
                    expected,
                )
            else:
                stubber.add_client_error("create_dataset", "ResourceInUseException", "exists", 400)
                listed = [
                    aws_examples.properties(
                        "comprehend/list-datasets",
                        DatasetArn=arn,
                        DatasetName=n,
                        DatasetType=n.rsplit("-", 1)[1].upper(),
                        DatasetS3Uri=DROP,
                        Status="CREATING",
                    )
                    for n, arn in arns.items()
                ]
                stubber.add_response(
                    "list_datasets",
                    aws_examples.response("comprehend/list-datasets", DatasetPropertiesList=listed),
                    {"FlywheelArn": NER_FLYWHEEL},
                )
        for name in names:
            stubber.add_response(
                "describe_dataset",
                aws_examples.response(
                    "comprehend/describe-dataset",
                    DatasetProperties={
                        "DatasetArn": arns[name],
                        "DatasetName": name,
                        "DatasetType": name.rsplit("-", 1)[1].upper(),
                        "DatasetS3Uri": DROP,
                        "Status": "CREATING",
                    },
                ),
                {"DatasetArn": arns[name]},
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

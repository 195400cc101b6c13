"""textloop_ops.resources against the services: Comprehend through botocore's Stubber (every
request and response checked against botocore's model; the response shapes are the AWS CLI's
published examples, cited beside each), S3, SSM and DynamoDB in moto."""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from textloop.adapters.active_model import (
    ActiveModelPointer,
    ActiveModelPointerStore,
    pointer_parameter_name,
)
from textloop.adapters.registry import Registry
from textloop.domain import layout
from textloop.domain.resources import (
    BATCH_OUTPUT,
    CLASSIFIER_VERSION,
    DATASET,
    ENDPOINT,
    FLYWHEEL,
    RECOGNIZER_VERSION,
    plan_prune,
    plan_removal,
)

from tests.support import REPO, aws_examples
from tests.support.aws_examples import DROP
from tests.support.stack import create_registry_table
from textloop_ops import cli
from textloop_ops.cli import resources as resources_command
from textloop_ops.resources import StackResources, StackScope

BUCKET = "tl-dev-lake"
TABLE = "tl-dev-registry"
PREFIX = "/tl/dev"
SCOPE = StackScope("tl-dev", BUCKET, TABLE, PREFIX, "us-west-2")
ACCOUNT = "arn:aws:comprehend:us-west-2:111122223333"
CLASSIFIER = f"{ACCOUNT}:document-classifier/tl-dev-classifier/version/"
RECOGNIZER = f"{ACCOUNT}:entity-recognizer/tl-dev-recognizer/version/"
ENDPOINT_ARN = f"{ACCOUNT}:document-classifier-endpoint/tl-dev-classifier"
OTHER_ENDPOINT = f"{ACCOUNT}:document-classifier-endpoint/ExampleClassifierEndpoint2"
FLYWHEEL_ARN = f"{ACCOUNT}:flywheel/tl-dev-recognizer"
OTHER_FLYWHEEL = f"{ACCOUNT}:flywheel/example-flywheel-2"
LOCKED_ITERATION = "scheduled-ner-1"


def tags(arn: str, model_type: str, stack: str = "tl-dev") -> dict:
    """The CLI's list-tags-for-resource example for ``arn``, with the stack's tags."""
    return aws_examples.response(
        "comprehend/list-tags-for-resource",
        ResourceArn=arn,
        Tags=[
            {"Key": "textloop:stack", "Value": stack},
            {"Key": "textloop:model-type", "Value": model_type},
        ],
    )


def foreign_tags(arn: str) -> dict:
    """The same example with its own tags: a resource of somebody else in the account."""
    return aws_examples.response("comprehend/list-tags-for-resource", ResourceArn=arn)


def no_output(command: str) -> dict:
    """delete-endpoint, delete-flywheel, delete-*, stop-training-*: "This command produces no
    output" (the CLI's examples)."""
    return aws_examples.response(f"comprehend/{command}")


def endpoints_page() -> dict:
    """The CLI's list-endpoints example: its endpoint renamed to this stack's (serving c2), and
    a second one of somebody else's, untagged."""
    ours = aws_examples.properties(
        "comprehend/list-endpoints",
        EndpointArn=ENDPOINT_ARN,
        ModelArn=CLASSIFIER + "c2",
        DesiredModelArn=CLASSIFIER + "c2",
    )
    other = aws_examples.properties(
        "comprehend/list-endpoints",
        EndpointArn=OTHER_ENDPOINT,
        ModelArn=f"{ACCOUNT}:document-classifier/exampleclassifier2",
        DesiredModelArn=f"{ACCOUNT}:document-classifier/exampleclassifier2",
    )
    return aws_examples.response("comprehend/list-endpoints", EndpointPropertiesList=[ours, other])


def flywheels_page() -> dict:
    """The CLI's list-flywheels example: its first flywheel is this stack's recogniser's (r2
    active), the second stays the example's own."""
    ours, other = aws_examples.response("comprehend/list-flywheels")["FlywheelSummaryList"]
    ours.update(
        FlywheelArn=FLYWHEEL_ARN,
        ActiveModelArn=RECOGNIZER + "r2",
        DataLakeS3Uri=f"s3://{BUCKET}/flywheels/ENTITY_RECOGNIZER/schemaVersion=1/"
        "20230616T200543Z/",
        ModelType="ENTITY_RECOGNIZER",
    )
    other.update(FlywheelArn=OTHER_FLYWHEEL)
    return aws_examples.response("comprehend/list-flywheels", FlywheelSummaryList=[ours, other])


def datasets_page() -> dict:
    """The CLI's list-datasets example, its two data sets named as this flywheel's."""
    lake = f"s3://{BUCKET}/flywheels/ENTITY_RECOGNIZER/schemaVersion=1/20230616T200543Z/datasets"
    listed = aws_examples.response("comprehend/list-datasets")["DatasetPropertiesList"]
    for props, name in zip(listed, ("it-2-train", "it-1-train"), strict=True):
        stamp = props["DatasetS3Uri"].rstrip("/").rsplit("/", 1)[1]
        props.update(
            DatasetArn=f"{FLYWHEEL_ARN}/dataset/{name}",
            DatasetName=name,
            DatasetS3Uri=f"{lake}/{name}/{stamp}/",
        )
    return aws_examples.response("comprehend/list-datasets", DatasetPropertiesList=listed)


def iterations_page() -> dict:
    """The CLI's list-flywheel-iteration-history example's first iteration, of this flywheel:
    its evaluated model is this flywheel's active one; its trained model, which Comprehend made
    and did not tag, is fw-1 (the published iteration names none)."""
    first = aws_examples.properties(
        "comprehend/list-flywheel-iteration-history",
        FlywheelArn=FLYWHEEL_ARN,
        EvaluatedModelArn=RECOGNIZER + "r2",
        TrainedModelArn=RECOGNIZER + "fw-1",
        EvaluationManifestS3Prefix=f"s3://{BUCKET}/flywheels/ENTITY_RECOGNIZER/"
        "schemaVersion=1/20230619TEXAMPLE/evaluation/20230619TEXAMPLE/",
    )
    return aws_examples.response(
        "comprehend/list-flywheel-iteration-history", FlywheelIterationPropertiesList=[first]
    )


# A version still training (or stopping) has none of the published version's end and results.
ENDED = ("TRAINED", "IN_ERROR", "STOPPED")
UNFINISHED = {
    "EndTime": DROP,
    "TrainingEndTime": DROP,
    "ClassifierMetadata": DROP,
    "RecognizerMetadata": DROP,
}


def classifier(version: str, day: int, status: str = "TRAINED") -> dict:
    """One DocumentClassifierProperties of the CLI's list-document-classifiers example: version
    ``version`` of the stack's classifier, submitted on June ``day``."""
    return aws_examples.properties(
        "comprehend/list-document-classifiers",
        DocumentClassifierArn=CLASSIFIER + version,
        Status=status,
        SubmitTime=datetime(2023, 6, day, 19, 4, 15, 735000, tzinfo=UTC),
        InputDataConfig={"S3Uri": f"s3://{BUCKET}/datasets/ds-{day}/train.csv"},
        DataAccessRoleArn="arn:aws:iam::111122223333:role/tl-dev-comprehend-data",
        VersionName=version,
        **({} if status in ENDED else UNFINISHED),
    )


def recognizer(version: str | None, arn: str, day: int, status: str = "TRAINED") -> dict:
    """One EntityRecognizerProperties of the CLI's list-entity-recognizers example: ``arn``,
    submitted on June ``day`` (``version`` None: an unversioned recogniser)."""
    return aws_examples.properties(
        "comprehend/list-entity-recognizers",
        EntityRecognizerArn=arn,
        Status=status,
        SubmitTime=datetime(2023, 6, day, 20, 44, 59, 631000, tzinfo=UTC),
        DataAccessRoleArn="arn:aws:iam::111122223333:role/tl-dev-comprehend-data",
        VersionName=version if version else DROP,
        **({} if status in ENDED else UNFINISHED),
    )


def stub_listing(stubber: Stubber, *, recognizer_status: str = "TRAINED") -> None:
    """The calls ``StackResources.list`` makes, in order, answered for one stack beside
    another's resources in the same account."""
    stubber.add_response("list_endpoints", endpoints_page(), {})
    stubber.add_response(
        "list_tags_for_resource",
        tags(ENDPOINT_ARN, "DOCUMENT_CLASSIFIER"),
        {"ResourceArn": ENDPOINT_ARN},
    )
    stubber.add_response(
        "list_tags_for_resource", foreign_tags(OTHER_ENDPOINT), {"ResourceArn": OTHER_ENDPOINT}
    )
    stubber.add_response("list_flywheels", flywheels_page(), {})
    stubber.add_response(
        "list_tags_for_resource",
        tags(FLYWHEEL_ARN, "ENTITY_RECOGNIZER"),
        {"ResourceArn": FLYWHEEL_ARN},
    )
    stubber.add_response(
        "list_flywheel_iteration_history", iterations_page(), {"FlywheelArn": FLYWHEEL_ARN}
    )
    stubber.add_response("list_datasets", datasets_page(), {"FlywheelArn": FLYWHEEL_ARN})
    stubber.add_response(
        "list_tags_for_resource", foreign_tags(OTHER_FLYWHEEL), {"ResourceArn": OTHER_FLYWHEEL}
    )
    foreign_classifier = {
        **classifier("1", 14),
        "DocumentClassifierArn": f"{ACCOUNT}:document-classifier/exampleclassifier1",
    }
    del foreign_classifier["VersionName"]
    stubber.add_response(
        "list_document_classifiers",
        {
            "DocumentClassifierPropertiesList": [
                classifier("c1", 1),
                classifier("c2", 2),
                classifier("c3", 3),
                foreign_classifier,
            ]
        },
        {},
    )
    for version in ("c1", "c2", "c3"):
        stubber.add_response(
            "list_tags_for_resource",
            tags(CLASSIFIER + version, "DOCUMENT_CLASSIFIER"),
            {"ResourceArn": CLASSIFIER + version},
        )
    stubber.add_response(
        "list_tags_for_resource",
        tags(
            foreign_classifier["DocumentClassifierArn"], "DOCUMENT_CLASSIFIER", stack="tl-prod"
        ),  # the same names, another stack
        {"ResourceArn": foreign_classifier["DocumentClassifierArn"]},
    )
    candidate = f"{LOCKED_ITERATION}-0123456789"
    stubber.add_response(
        "list_entity_recognizers",
        {
            "EntityRecognizerPropertiesList": [
                recognizer("r2", RECOGNIZER + "r2", 2),
                recognizer("fw-1", RECOGNIZER + "fw-1", 4),
                recognizer(candidate, RECOGNIZER + candidate, 5, recognizer_status),
                recognizer(None, f"{ACCOUNT}:entity-recognizer/entityrecognizer3", 14),
            ]
        },
        {},
    )
    stubber.add_response(
        "list_tags_for_resource",
        tags(RECOGNIZER + "r2", "ENTITY_RECOGNIZER"),
        {"ResourceArn": RECOGNIZER + "r2"},
    )
    # No tag at all: the flywheel's iteration history names it, so it is the stack's.
    stubber.add_response(
        "list_tags_for_resource",
        aws_examples.response(
            "comprehend/list-tags-for-resource", ResourceArn=RECOGNIZER + "fw-1", Tags=[]
        ),
        {"ResourceArn": RECOGNIZER + "fw-1"},
    )
    stubber.add_response(
        "list_tags_for_resource",
        tags(RECOGNIZER + candidate, "ENTITY_RECOGNIZER"),
        {"ResourceArn": RECOGNIZER + candidate},
    )
    stubber.add_client_error(
        "list_tags_for_resource",
        "ResourceNotFoundException",
        "deleted since it was listed",
        expected_params={"ResourceArn": f"{ACCOUNT}:entity-recognizer/entityrecognizer3"},
    )


@pytest.fixture
def stack(aws):
    """The stack's lake, pointer and registry in moto: c3 is the active classifier (pointer and
    registry), an iteration of the recogniser holds the lock; batch outputs of c1 and c3."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for key in (
        layout.test_predictions_prefix("c1", "ds-1") + "111-CLN-job/output/output.tar.gz",
        layout.test_predictions_prefix("c1", "ds-2") + "222-CLN-job/output/output.tar.gz",
        layout.test_predictions_prefix("c3", "ds-3") + "333-CLN-job/output/output.tar.gz",
        layout.metadata_key("c3"),  # not a batch output: never listed or deleted here
    ):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 100)
    ssm = boto3.client("ssm", region_name="us-east-1")
    ActiveModelPointerStore(ssm, pointer_parameter_name(PREFIX, "DOCUMENT_CLASSIFIER")).put(
        ActiveModelPointer(
            model_version="c3",
            backend="comprehend",
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_CLASS",
            endpoint_arn=ENDPOINT_ARN,
        )
    )
    create_registry_table(TABLE)
    registry = Registry(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
    registry.record(
        "DOCUMENT_CLASSIFIER",
        "it-3",
        {
            "model_version": "c3",
            "promoted_at": "2023-06-03T20:00:00.000Z",
            "classifier_arn": CLASSIFIER + "c3",
        },
    )
    now = datetime.now(UTC)
    registry.acquire(
        "ENTITY_RECOGNIZER",
        holder=f"arn:aws:states:us-west-2:111122223333:execution:tl-dev:{LOCKED_ITERATION}",
        iteration_id=LOCKED_ITERATION,
        ttl_seconds=3600,
        now=now - timedelta(minutes=5),
    )


def resources(comprehend, **kwargs) -> StackResources:
    def client(service: str):
        if service == "comprehend":
            return comprehend
        return boto3.client(service, region_name="us-east-1")

    return StackResources(SCOPE, client, **kwargs)


def test_list_finds_the_stacks_resources_by_tag_and_marks_active_and_in_use(stack):
    comprehend = boto3.client("comprehend", region_name="us-west-2")
    stubber = Stubber(comprehend)
    stub_listing(stubber)
    with stubber:
        found = resources(comprehend).list()
        stubber.assert_no_pending_responses()
    by_id = {r.id: r for r in found}
    candidate = RECOGNIZER + f"{LOCKED_ITERATION}-0123456789"
    assert [(r.kind, r.id) for r in found] == [
        (ENDPOINT, ENDPOINT_ARN),
        (FLYWHEEL, FLYWHEEL_ARN),
        (DATASET, f"{FLYWHEEL_ARN}/dataset/it-2-train"),
        (DATASET, f"{FLYWHEEL_ARN}/dataset/it-1-train"),
        (CLASSIFIER_VERSION, CLASSIFIER + "c1"),
        (CLASSIFIER_VERSION, CLASSIFIER + "c2"),
        (CLASSIFIER_VERSION, CLASSIFIER + "c3"),
        (RECOGNIZER_VERSION, RECOGNIZER + "r2"),
        (RECOGNIZER_VERSION, RECOGNIZER + "fw-1"),
        (RECOGNIZER_VERSION, candidate),
        (BATCH_OUTPUT, "models/c1/test-predictions/"),
        (BATCH_OUTPUT, "models/c3/test-predictions/"),
    ]
    endpoint = by_id[ENDPOINT_ARN]
    assert endpoint.model_type == "DOCUMENT_CLASSIFIER" and endpoint.inference_units == 1
    assert endpoint.created == "2023-06-13T20:32:54.526Z"
    assert "$1.80/h" in endpoint.to_dict()["cost"]
    # c2: served by the endpoint; c3: the pointer's and the registry's; c1: neither.
    assert by_id[CLASSIFIER + "c2"].serves == (ENDPOINT_ARN,)
    assert [by_id[CLASSIFIER + v].active for v in ("c1", "c2", "c3")] == [False, True, True]
    # r2 is the flywheel's active model; the locked iteration's candidate is in use.
    assert by_id[RECOGNIZER + "r2"].active and not by_id[RECOGNIZER + "r2"].in_use
    assert by_id[candidate].in_use and not by_id[candidate].active
    c1, c3 = by_id["models/c1/test-predictions/"], by_id["models/c3/test-predictions/"]
    assert (c1.size_bytes, c1.model_type, c1.active) == (200, "DOCUMENT_CLASSIFIER", False)
    assert (c3.size_bytes, c3.active) == (100, True)
    assert by_id[f"{FLYWHEEL_ARN}/dataset/it-1-train"].parent == FLYWHEEL_ARN


def test_prune_deletes_old_versions_and_their_batch_outputs_and_nothing_else(stack):
    comprehend = boto3.client("comprehend", region_name="us-west-2")
    stubber = Stubber(comprehend)
    stub_listing(stubber)
    with stubber:
        found = resources(comprehend).list()
    steps = plan_prune(found, keep=1)
    assert [(s.action, s.resource.version) for s in steps] == [
        ("keep", "c2"),  # active: the endpoint serves it
        ("delete", "c1"),
        ("delete", "c1"),  # its batch output
        ("delete", "fw-1"),  # the flywheel trained it; not active, not in use
        ("keep", "r2"),  # the flywheel's active model
    ]
    stubber = Stubber(comprehend)
    # Shape: `aws comprehend delete-document-classifier` produces no output,
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/delete-document-classifier.html
    stubber.add_response(
        "delete_document_classifier",
        no_output("delete-document-classifier"),
        {"DocumentClassifierArn": CLASSIFIER + "c1"},
    )
    # Shape: `aws comprehend delete-entity-recognizer` produces no output,
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/delete-entity-recognizer.html
    stubber.add_response(
        "delete_entity_recognizer",
        no_output("delete-entity-recognizer"),
        {"EntityRecognizerArn": RECOGNIZER + "fw-1"},
    )
    with stubber:
        results = resources(comprehend).apply(steps)
        stubber.assert_no_pending_responses()
    assert [r["result"] for r in results] == [
        "kept",
        "deleted",
        "deleted 2 objects",
        "deleted",
        "kept",
    ]
    left = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET)
    assert sorted(o["Key"] for o in left["Contents"]) == [
        "models/c3/metadata.json",
        "models/c3/test-predictions/ds-3/333-CLN-job/output/output.tar.gz",
    ]
    # Run again on a version already gone, and one a job still uses: neither stops the rest.
    stubber = Stubber(comprehend)
    stubber.add_client_error(
        "delete_document_classifier",
        "ResourceNotFoundException",
        "not found",
        expected_params={"DocumentClassifierArn": CLASSIFIER + "c1"},
    )
    stubber.add_client_error(
        "delete_document_classifier",
        "ResourceInUseException",
        "An inference job is using the model",
        expected_params={"DocumentClassifierArn": CLASSIFIER + "c2"},
    )
    delete = [s for s in steps if s.action == "delete" and s.resource.version == "c1"]
    # As if c2 were no longer active: a batch job still using it makes Comprehend refuse.
    in_use = plan_prune([replace(r, active=False, serves=()) for r in found], keep=0)
    c2 = next(s for s in in_use if s.resource.version == "c2" and s.action == "delete")
    with stubber:
        again = resources(comprehend).apply([*delete, c2])
    assert [r["result"] for r in again] == ["already gone", "already gone", "failed"]
    assert again[2]["error"] == "ResourceInUseException: An inference job is using the model"


def test_remove_all_deletes_endpoints_first_waits_for_them_and_is_idempotent(stack):
    comprehend = boto3.client("comprehend", region_name="us-west-2")
    stubber = Stubber(comprehend)
    stub_listing(stubber, recognizer_status="TRAINING")
    with stubber:
        steps = plan_removal(resources(comprehend).list())
    candidate = RECOGNIZER + f"{LOCKED_ITERATION}-0123456789"
    stubber = Stubber(comprehend)
    # delete-endpoint, delete-flywheel, delete-entity-recognizer, delete-document-classifier:
    # "This command produces no output" (AWS CLI examples,
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/delete-endpoint.html etc.)
    stubber.add_response(
        "delete_endpoint", no_output("delete-endpoint"), {"EndpointArn": ENDPOINT_ARN}
    )
    # Shape: `aws comprehend describe-endpoint` Output,
    # https://docs.aws.amazon.com/cli/latest/reference/comprehend/describe-endpoint.html
    deleting = {**endpoints_page()["EndpointPropertiesList"][0], "Status": "DELETING"}
    stubber.add_response(
        "describe_endpoint", {"EndpointProperties": deleting}, {"EndpointArn": ENDPOINT_ARN}
    )
    stubber.add_client_error(
        "describe_endpoint",
        "ResourceNotFoundException",
        "Endpoint not found",
        expected_params={"EndpointArn": ENDPOINT_ARN},
    )
    stubber.add_response(
        "delete_flywheel", no_output("delete-flywheel"), {"FlywheelArn": FLYWHEEL_ARN}
    )
    stubber.add_response(
        "delete_entity_recognizer",
        no_output("delete-entity-recognizer"),
        {"EntityRecognizerArn": RECOGNIZER + "fw-1"},
    )
    stubber.add_response(
        "delete_entity_recognizer",
        no_output("delete-entity-recognizer"),
        {"EntityRecognizerArn": RECOGNIZER + "r2"},
    )
    stubber.add_response(
        "stop_training_entity_recognizer",
        no_output("stop-training-entity-recognizer"),
        {"EntityRecognizerArn": candidate},
    )
    stubber.add_response(
        "describe_entity_recognizer",
        {"EntityRecognizerProperties": recognizer(None, candidate, 5, "STOP_REQUESTED")},
        {"EntityRecognizerArn": candidate},
    )
    stubber.add_response(
        "describe_entity_recognizer",
        {"EntityRecognizerProperties": recognizer(None, candidate, 5, "STOPPED")},
        {"EntityRecognizerArn": candidate},
    )
    stubber.add_response(
        "delete_entity_recognizer",
        no_output("delete-entity-recognizer"),
        {"EntityRecognizerArn": candidate},
    )
    for version in ("c1", "c2", "c3"):
        stubber.add_response(
            "delete_document_classifier",
            no_output("delete-document-classifier"),
            {"DocumentClassifierArn": CLASSIFIER + version},
        )
    waits = []
    with stubber:
        results = resources(comprehend, sleep=waits.append).apply(steps, poll_seconds=15)
        stubber.assert_no_pending_responses()
    assert waits == [15, 15]  # once for the endpoint, once for the stopping training
    assert [(r["kind"], r["action"], r["result"]) for r in results] == [
        (ENDPOINT, "delete", "deleted"),
        (FLYWHEEL, "delete", "deleted"),
        (RECOGNIZER_VERSION, "delete", "deleted"),
        (RECOGNIZER_VERSION, "delete", "deleted"),
        (RECOGNIZER_VERSION, "stop", "stopped (STOPPED)"),
        (RECOGNIZER_VERSION, "delete", "deleted"),
        (CLASSIFIER_VERSION, "delete", "deleted"),
        (CLASSIFIER_VERSION, "delete", "deleted"),
        (CLASSIFIER_VERSION, "delete", "deleted"),
        (BATCH_OUTPUT, "delete", "deleted 2 objects"),
        (BATCH_OUTPUT, "delete", "deleted 1 objects"),
    ]
    # A second run finds nothing of the stack's: nothing to do.
    stubber = Stubber(comprehend)
    stubber.add_response("list_endpoints", {"EndpointPropertiesList": []}, {})
    stubber.add_response("list_flywheels", {"FlywheelSummaryList": []}, {})
    stubber.add_response("list_document_classifiers", {"DocumentClassifierPropertiesList": []}, {})
    stubber.add_response("list_entity_recognizers", {"EntityRecognizerPropertiesList": []}, {})
    with stubber:
        assert plan_removal(resources(comprehend).list()) == []


def test_an_endpoint_already_deleting_is_waited_for_before_the_versions(aws):
    from textloop.domain.resources import Resource

    deleting = Resource(ENDPOINT, ENDPOINT_ARN, status="DELETING", model_arn=CLASSIFIER + "c1")
    version = Resource(
        CLASSIFIER_VERSION, CLASSIFIER + "c1", "DOCUMENT_CLASSIFIER", "TRAINED", version="c1"
    )
    comprehend = boto3.client("comprehend", region_name="us-west-2")
    stubber = Stubber(comprehend)
    stubber.add_client_error(
        "describe_endpoint",
        "ResourceNotFoundException",
        "Endpoint not found",
        expected_params={"EndpointArn": ENDPOINT_ARN},
    )
    stubber.add_response(
        "delete_document_classifier",
        no_output("delete-document-classifier"),
        {"DocumentClassifierArn": CLASSIFIER + "c1"},
    )
    with stubber:
        results = resources(comprehend).apply(plan_removal([deleting, version]))
        stubber.assert_no_pending_responses()
    assert [r["result"] for r in results] == ["already being deleted", "deleted"]


def test_an_endpoint_that_outlives_the_wait_stops_the_removal_before_the_versions(stack):
    comprehend = boto3.client("comprehend", region_name="us-west-2")
    stubber = Stubber(comprehend)
    stub_listing(stubber)
    with stubber:
        steps = plan_removal(resources(comprehend).list())
    stubber = Stubber(comprehend)
    stubber.add_response(
        "delete_endpoint", no_output("delete-endpoint"), {"EndpointArn": ENDPOINT_ARN}
    )
    deleting = {**endpoints_page()["EndpointPropertiesList"][0], "Status": "DELETING"}
    # Polled at t=50 (wait on) and t=100 (the 100 s are up).
    for _ in range(2):
        stubber.add_response(
            "describe_endpoint", {"EndpointProperties": deleting}, {"EndpointArn": ENDPOINT_ARN}
        )
    clock = iter(range(0, 1000, 50))
    with stubber:
        # No delete of a flywheel or version is stubbed: the Stubber fails on any such call.
        results = resources(comprehend, sleep=lambda s: None, clock=lambda: next(clock)).apply(
            steps, wait_seconds=100
        )
        stubber.assert_no_pending_responses()
    assert [r["result"] for r in results] == ["deleted", "failed"]
    assert "still deleting after 100 s" in results[1]["error"]
    assert ENDPOINT_ARN in results[1]["error"]


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def stack_file(tmp_path):
    """What `terraform output -json stack` prints for the stack."""
    path = tmp_path / "stack.json"
    path.write_text(
        json.dumps(
            {
                "name": "tl-dev",
                "data_lake_bucket": BUCKET,
                "registry_table": TABLE,
                "active_model_parameter_prefix": PREFIX,
                "region": "us-west-2",
            }
        )
    )
    return path


def use_clients(monkeypatch, comprehend) -> list:
    """The CLI's clients: the Stubber-ed Comprehend, moto for the rest; records the regions."""
    regions = []

    def client(service: str, region: str | None):
        regions.append(region)
        if service == "comprehend":
            return comprehend
        return boto3.client(service, region_name="us-east-1")

    monkeypatch.setattr(resources_command, "_aws_client", client)
    return regions


def test_cli_lists_the_resources_as_a_table_and_as_json(stack, stack_file, monkeypatch, capsys):
    comprehend = boto3.client("comprehend", region_name="us-west-2")
    regions = use_clients(monkeypatch, comprehend)
    stubber = Stubber(comprehend)
    stub_listing(stubber)
    stub_listing(stubber)
    with stubber:
        assert cli.main(["resources", "--stack-file", str(stack_file)], environ={}) == 0
        table = capsys.readouterr().out
        argv = ["--json", "resources", "list", "--stack-file", str(stack_file)]
        assert cli.main(argv, environ={}) == 0
        data = json.loads(capsys.readouterr().out)
    assert set(regions) == {"us-west-2"}  # the stack's region, not the shell's
    header = table.splitlines()[0].split()
    assert header == ["KIND", "MODEL_TYPE", "ID", "VERSION", "STATUS", "CREATED", "ACTIVE", "COST"]
    c2 = next(
        line
        for line in table.splitlines()
        if line.startswith("classifier-version") and CLASSIFIER + "c2" in line
    )
    assert "serving" in c2 and "$0.50/month model management" in c2
    assert "tl-dev: endpoints 1 IU = $1.80/h while they exist; 6 model versions" in table
    assert data["stack"] == "tl-dev"
    rows = {row["id"]: row for row in data["resources"]}
    assert rows[CLASSIFIER + "c2"]["serves"] == [ENDPOINT_ARN]
    assert (rows[CLASSIFIER + "c3"]["active"], rows[CLASSIFIER + "c3"]["in_use"]) == (True, False)
    candidate = rows[RECOGNIZER + f"{LOCKED_ITERATION}-0123456789"]
    assert (candidate["active"], candidate["in_use"]) == (False, True)
    assert rows[ENDPOINT_ARN]["inference_units"] == 1
    assert rows[ENDPOINT_ARN]["cost"].endswith("$1.80/h while provisioned, with or without traffic")


def test_cli_prune_dry_run_changes_nothing_and_a_failed_delete_exits_1(
    stack, stack_file, monkeypatch, capsys
):
    comprehend = boto3.client("comprehend", region_name="us-west-2")
    use_clients(monkeypatch, comprehend)
    stubber = Stubber(comprehend)
    stub_listing(stubber)
    monkeypatch.setattr("sys.stdin", io.StringIO(stack_file.read_text()))
    with stubber:  # no delete is stubbed: any would fail the test
        argv = ["--json", "resources", "--stack-file", "-", "prune", "--keep", "1", "--dry-run"]
        assert cli.main(argv, environ={}) == 0
        stubber.assert_no_pending_responses()
    plan = json.loads(capsys.readouterr().out)
    assert plan["dry_run"] is True
    assert [(s["action"], s["version"]) for s in plan["plan"]] == [
        ("keep", "c2"),
        ("delete", "c1"),
        ("delete", "c1"),
        ("delete", "fw-1"),
        ("keep", "r2"),
    ]
    stubber = Stubber(comprehend)
    stub_listing(stubber)
    stubber.add_client_error(
        "delete_document_classifier",
        "ResourceInUseException",
        "An inference job is using the model",
        expected_params={"DocumentClassifierArn": CLASSIFIER + "c1"},
    )
    stubber.add_response(
        "delete_entity_recognizer",
        no_output("delete-entity-recognizer"),
        {"EntityRecognizerArn": RECOGNIZER + "fw-1"},
    )
    with stubber:
        argv = ["resources", "prune", "--keep", "1", "--stack-file", str(stack_file)]
        assert cli.main(argv, environ={}) == cli.EXIT_FAILED
        stubber.assert_no_pending_responses()
    out, err = capsys.readouterr()
    assert "ResourceInUseException: An inference job is using the model" in out
    assert "1 step(s) failed" in err
    # The batch output went (nothing depends on it); the version stays for the next run.
    left = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET)
    assert not any(o["Key"].startswith("models/c1/") for o in left["Contents"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["resources", "remove"], "--all"),
        (["resources", "prune", "--keep", "-1"], "--keep must be 0 or more"),
        (["--api-url", "https://x", "--api-key", "k", "resources"], "--stack-file -"),
    ],
)
def test_cli_resources_usage_errors_exit_2(argv, message, capsys):
    assert cli.main(argv, environ={}) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_cli_refuses_a_stack_file_without_the_stack(tmp_path, capsys):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"api_url": {"value": "https://x"}}))
    assert cli.main(["resources", "--stack-file", str(path)], environ={}) == cli.EXIT_USAGE
    assert "name and data_lake_bucket" in capsys.readouterr().err


def test_make_destroy_aws_removes_the_run_time_resources_before_terraform_destroy():
    def make(*argv: str) -> str:
        return subprocess.run(
            ["make", "--no-print-directory", *argv],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert "make destroy-aws" in make("help")
    commands = make("-n", "destroy-aws", "TF_DESTROY_ARGS=-auto-approve")
    remove = commands.index("resources --stack-file - remove --all")
    destroy = commands.index("-chdir=terraform/envs/aws destroy -input=false -auto-approve")
    assert commands.index("-chdir=terraform/envs/aws output -json stack") < remove < destroy

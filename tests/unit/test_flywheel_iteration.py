"""Flywheel mode end to end: two iterations per model type through the iteration state machine
in moto, every step Lambda in process, Comprehend a Stubber-ed client (responses checked against
botocore's model; each response is the AWS CLI's published example under
tests/fixtures/aws/comprehend/, which names its page, changed only where it must match the
test's own requests).

What each test holds the loop to: the flywheel is created once; each iteration's TRAIN data set
holds only the documents the flywheel does not hold yet (the second only its own new ones), new
test items go in as TEST; the flywheel's trained version is judged by textloop's gate on the
frozen test set with batch jobs; promotion moves the endpoint and the flywheel's ActiveModelArn;
the audit record keeps the flywheel's own metrics.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from tests.support import aws_examples
from tests.support.aws_examples import DROP
from tests.support.iteration_data import put_feedback, put_seed
from tests.support.iteration_stack import BUCKET, PREFIX, deploy_iteration_stack
from tests.unit.test_iteration_flow import lake_text, simulate_comprehend_jobs

ACCOUNT = "arn:aws:comprehend:us-east-1:123456789012"
DATA_ROLE = "arn:aws:iam::123456789012:role/textloop-test-comprehend-data"
FLYWHEEL_ROLE = "arn:aws:iam::123456789012:role/textloop-test-comprehend-flywheel"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STACK = "textloop-test"


class Kind:
    """What differs between the model types' Comprehend calls."""

    def __init__(self, model_type: str):
        self.model_type = model_type
        entity = model_type == "ENTITY_RECOGNIZER"
        self.entity = entity
        self.flywheel_name = "textloop-test-recognizer" if entity else "textloop-test-classifier"
        self.flywheel_arn = f"{ACCOUNT}:flywheel/{self.flywheel_name}"
        resource = "entity-recognizer" if entity else "document-classifier"
        self.endpoint = f"{ACCOUNT}:{resource}-endpoint/{self.flywheel_name}"
        self.model_field = "recognizer_arn" if entity else "classifier_arn"
        self.model_param = "EntityRecognizerArn" if entity else "DocumentClassifierArn"
        job = "entities_detection_job" if entity else "document_classification_job"
        self.start_job, self.describe_job = f"start_{job}", f"describe_{job}"
        self.job_properties = (
            "EntitiesDetectionJobProperties" if entity else "DocumentClassificationJobProperties"
        )
        self.tags = [
            {"Key": "textloop:stack", "Value": STACK},
            {"Key": "textloop:model-type", "Value": model_type},
        ]
        self.resource = resource

    def trained(self, n: int) -> str:
        # The TrainedModelArn of the CLI's describe-flywheel-iteration example
        # (https://docs.aws.amazon.com/cli/latest/reference/comprehend/describe-flywheel-iteration.html):
        # a version Comprehend names "Comprehend-Generated-v<n>-<hash>" under the flywheel's model.
        version = f"Comprehend-Generated-v{n}-bb52d58{n}"
        return f"{ACCOUNT}:{self.resource}/{self.flywheel_name}/version/{version}"

    def job_started(self, job_id: str) -> dict:
        """The CLI's start-*-job example for ``job_id``."""
        job = "entities-detection-job" if self.entity else "document-classification-job"
        return aws_examples.response(
            f"comprehend/start-{job}", JobId=job_id, JobArn=f"{ACCOUNT}:{job}/{job_id}"
        )

    def job_described(self, job_id: str, model_arn: str, output_uri: str) -> dict:
        """The CLI's describe-*-job example: ``job_id`` of ``model_arn`` COMPLETED, its output
        at ``output_uri``."""
        job = "entities-detection-job" if self.entity else "document-classification-job"
        properties = {
            "JobId": job_id,
            "JobArn": f"{ACCOUNT}:{job}/{job_id}",
            "OutputDataConfig": {"S3Uri": output_uri},
            "DataAccessRoleArn": DATA_ROLE,
            # The published entities job ran AWS's own recogniser and names none.
            self.model_param: model_arn,
        }
        return aws_examples.response(
            f"comprehend/describe-{job}", **{self.job_properties: properties}
        )

    def flywheel_updated(self, active: str, latest_iteration: str) -> dict:
        """The CLI's update-flywheel example: this flywheel, its active model now ``active``."""
        return aws_examples.response(
            "comprehend/update-flywheel",
            FlywheelProperties=flywheel_properties(
                self, active, LatestFlywheelIteration=latest_iteration
            ),
        )

    def env(self) -> dict:
        setting = "RECOGNIZER" if self.entity else "CLASSIFIER"
        return {
            "STACK_NAME": STACK,
            "COMPREHEND_DATA_ACCESS_ROLE_ARN": DATA_ROLE,
            "COMPREHEND_FLYWHEEL_ROLE_ARN": FLYWHEEL_ROLE,
            "COMPREHEND_KMS_KEY_ARN": KEY,
            f"COMPREHEND_{setting}_FLYWHEEL_NAME": self.flywheel_name,
            f"COMPREHEND_{setting}_ENDPOINT_ARN": self.endpoint,
        }


# The FlywheelModelEvaluationMetrics and message of the CLI's describe-flywheel-iteration example.
_PUBLISHED = aws_examples.example("comprehend/describe-flywheel-iteration").body[
    "FlywheelIterationProperties"
]
EVALUATED = _PUBLISHED["EvaluatedModelMetrics"]
TRAINED = _PUBLISHED["TrainedModelMetrics"]
FULL_ITERATION = _PUBLISHED["Message"]
NOT_ENDED = aws_examples.FLYWHEEL_ITERATION_NOT_ENDED


def flywheel_properties(kind: Kind, active: str | None, **changes) -> dict:
    """The FlywheelProperties of the CLI's describe-flywheel/update-flywheel examples, for this
    stack's flywheel of ``kind`` (its task, role, lake and key), serving ``active``."""
    task = (
        {"DocumentClassificationConfig": DROP, "EntityRecognitionConfig": ANY_TYPES}
        if kind.entity
        else {"DocumentClassificationConfig": {"Mode": "MULTI_CLASS", "Labels": AG_NEWS}}
    )
    return {
        "FlywheelArn": kind.flywheel_arn,
        "ActiveModelArn": active or DROP,
        "DataAccessRoleArn": FLYWHEEL_ROLE,
        "TaskConfig": task,
        "DataLakeS3Uri": f"s3://{BUCKET}/flywheels/{kind.model_type}/schemaVersion=1/"
        "20230616T200543Z/",
        "DataSecurityConfig": {
            "ModelKmsKeyId": KEY,
            "VolumeKmsKeyId": KEY,
            "DataLakeKmsKeyId": KEY,
        },
        "Status": "ACTIVE",
        "ModelType": kind.model_type,
        **changes,
    }


AG_NEWS = ["Business", "Sci/Tech", "Sports", "World"]
ANY_TYPES = {"EntityTypes": [{"Type": "SERVICE"}, {"Type": "VERSION"}]}


def dataset_properties(kind: Kind, name: str, part: str, status: str) -> dict:
    """One DatasetProperties of the CLI's describe-dataset/list-datasets examples."""
    return {
        "DatasetArn": f"{kind.flywheel_arn}/dataset/{name}",
        "DatasetName": name,
        "DatasetType": part,
        "DatasetS3Uri": f"s3://{BUCKET}/flywheels/{kind.model_type}/schemaVersion=1/"
        f"20230616T200543Z/datasets/{name}/20230616T203710Z/",
        "Status": status,
    }


def record_calls(client) -> list[tuple[str, dict]]:
    """Every Comprehend call's operation and parameters, in order."""
    calls: list[tuple[str, dict]] = []

    def record(params, model, **_):
        calls.append((model.name, dict(params)))

    client.meta.events.register("before-parameter-build.comprehend", record)
    return calls


def stub_iteration(
    stubber: Stubber,
    kind: Kind,
    n: int,
    *,
    held: list[str],
    active: str | None,
    outputs: dict,
    failed: str | None = None,
) -> None:
    """The Comprehend calls of iteration ``n`` in flywheel mode, in the order the steps make
    them. ``held``: the data set names the flywheel holds (None on the first iteration: no
    flywheel yet); ``active``: the model version the endpoint serves (None: no active model);
    ``failed``: the flywheel iteration FAILS with this message (and nothing follows)."""
    flywheel, iteration_id = kind.flywheel_arn, f"2023061{n}T211026Z"
    if n == 1:
        # None of the stack's flywheels exists yet.
        stubber.add_response(
            "list_flywheels",
            aws_examples.response("comprehend/list-flywheels", FlywheelSummaryList=[]),
            {},
        )
        stubber.add_response(
            "create_flywheel",
            aws_examples.response("comprehend/create-flywheel", FlywheelArn=flywheel),
            {
                "FlywheelName": kind.flywheel_name,
                "DataAccessRoleArn": FLYWHEEL_ROLE,
                "DataLakeS3Uri": f"s3://{BUCKET}/flywheels/{kind.model_type}/",
                "ClientRequestToken": ANY,
                "Tags": kind.tags,
                "ModelType": kind.model_type,
                "TaskConfig": ANY,
                "DataSecurityConfig": {
                    "ModelKmsKeyId": KEY,
                    "VolumeKmsKeyId": KEY,
                    "DataLakeKmsKeyId": KEY,
                },
            },
        )
    else:
        summary = aws_examples.properties(
            "comprehend/list-flywheels",
            FlywheelArn=flywheel,
            ActiveModelArn=active,
            DataLakeS3Uri=flywheel_properties(kind, active)["DataLakeS3Uri"],
            ModelType=kind.model_type,
            LatestFlywheelIteration=f"2023061{n - 1}T211026Z",
        )
        stubber.add_response(
            "list_flywheels",
            aws_examples.response("comprehend/list-flywheels", FlywheelSummaryList=[summary]),
            {},
        )
        held_sets = [
            aws_examples.properties(
                "comprehend/list-datasets",
                **dataset_properties(
                    kind, name, "TEST" if name.endswith("-test") else "TRAIN", "COMPLETED"
                ),
            )
            for name in held
        ]
        stubber.add_response(
            "list_datasets",
            aws_examples.response("comprehend/list-datasets", DatasetPropertiesList=held_sets),
            {"FlywheelArn": flywheel},
        )
    stubber.add_response(
        "describe_flywheel",
        aws_examples.response(
            "comprehend/describe-flywheel", FlywheelProperties=flywheel_properties(kind, active)
        ),
        {"FlywheelArn": flywheel},
    )
    for part in ("TRAIN", "TEST"):
        stubber.add_response(
            "create_dataset",
            aws_examples.response(
                "comprehend/create-dataset", DatasetArn=f"{flywheel}/dataset/it{n}-{part.lower()}"
            ),
            {
                "FlywheelArn": flywheel,
                "DatasetName": ANY,
                "DatasetType": part,
                "InputDataConfig": ANY,
                "ClientRequestToken": ANY,
                "Tags": kind.tags,
            },
        )
    for part in ("TRAIN", "TEST"):
        name = f"it{n}-{part.lower()}"
        stubber.add_response(
            "describe_dataset",
            aws_examples.response(
                "comprehend/describe-dataset",
                DatasetProperties=dataset_properties(kind, name, part, "COMPLETED"),
            ),
            {"DatasetArn": f"{flywheel}/dataset/{name}"},
        )
    stubber.add_response(
        "start_flywheel_iteration",
        aws_examples.response(
            "comprehend/start-flywheel-iteration",
            FlywheelArn=flywheel,
            FlywheelIterationId=iteration_id,
        ),
        {"FlywheelArn": flywheel, "ClientRequestToken": ANY},
    )
    described = {"FlywheelArn": flywheel, "FlywheelIterationId": iteration_id}

    def iteration(**changes) -> dict:
        return aws_examples.response(
            "comprehend/describe-flywheel-iteration",
            FlywheelIterationProperties={**described, **changes},
        )

    stubber.add_response(
        "describe_flywheel_iteration", iteration(Status="TRAINING", **NOT_ENDED), described
    )
    if failed:
        stubber.add_response(
            "describe_flywheel_iteration",
            # Ended (the published EndTime kept), with Comprehend's message and no model.
            iteration(
                **{**NOT_ENDED, "EndTime": _PUBLISHED["EndTime"], "Message": failed},
                Status="FAILED",
            ),
            described,
        )
        return
    # The published iteration (its message and both models' metrics), for this flywheel; the
    # first one has no active model to evaluate.
    stubber.add_response(
        "describe_flywheel_iteration",
        iteration(
            EvaluatedModelArn=active or DROP,
            EvaluatedModelMetrics=EVALUATED if active else DROP,
            TrainedModelArn=kind.trained(n),
            EvaluationManifestS3Prefix=f"s3://{BUCKET}/flywheels/{kind.model_type}/"
            f"schemaVersion=1/20230616T200543Z/evaluation/{iteration_id}/",
        ),
        described,
    )
    stubber.add_response(
        "tag_resource",
        aws_examples.response("comprehend/tag-resource"),
        {"ResourceArn": kind.trained(n), "Tags": kind.tags},
    )
    job = {"JobName": ANY, "InputDataConfig": ANY, "OutputDataConfig": ANY}
    job.update({"DataAccessRoleArn": DATA_ROLE, "ClientRequestToken": ANY, "Tags": kind.tags})
    if kind.entity:
        job["LanguageCode"] = "en"
    stubber.add_response(
        kind.start_job,
        kind.job_started(f"job-{n}-candidate"),
        {**job, kind.model_param: kind.trained(n)},
    )
    if active:
        stubber.add_response(
            "describe_endpoint",
            aws_examples.response(
                "comprehend/describe-endpoint",
                EndpointProperties={
                    "EndpointArn": kind.endpoint,
                    "ModelArn": active,
                    "DesiredModelArn": active,
                    "DesiredDataAccessRoleArn": DATA_ROLE,
                },
            ),
            {"EndpointArn": kind.endpoint},
        )
        stubber.add_response(
            kind.start_job, kind.job_started(f"job-{n}-active"), {**job, kind.model_param: active}
        )
    for role, arn in (("candidate", kind.trained(n)), ("active", active)):
        if arn is None:
            continue
        stubber.add_response(
            kind.describe_job,
            kind.job_described(f"job-{n}-{role}", arn, outputs[arn]),
            {"JobId": f"job-{n}-{role}"},
        )
    if active:
        stubber.add_response(
            "update_endpoint",
            aws_examples.response("comprehend/update-endpoint"),
            {
                "EndpointArn": kind.endpoint,
                "DesiredModelArn": kind.trained(n),
                "DesiredDataAccessRoleArn": DATA_ROLE,
            },
        )
    else:
        # The first promotion: the endpoint does not exist yet, so it is created.
        stubber.add_client_error(
            "update_endpoint", "ResourceNotFoundException", "Endpoint not found", 400
        )
        stubber.add_response(
            "create_endpoint",
            aws_examples.response(
                "comprehend/create-endpoint", EndpointArn=kind.endpoint, ModelArn=kind.trained(n)
            ),
            {
                "EndpointName": kind.flywheel_name,
                "ModelArn": kind.trained(n),
                "DesiredInferenceUnits": 1,
                "ClientRequestToken": ANY,
                "Tags": kind.tags,
                # The flywheel's version is encrypted with the stack's key: read through a role.
                "DataAccessRoleArn": DATA_ROLE,
            },
        )
    stubber.add_response(
        "update_flywheel",
        kind.flywheel_updated(kind.trained(n), f"2023061{n}T211026Z"),
        {"FlywheelArn": flywheel, "ActiveModelArn": kind.trained(n)},
    )


def simulate_entity_jobs(client, spans_of: dict, wrong_every: dict, outputs: dict) -> None:
    """What Comprehend does when an entities detection job runs: one output line per input line
    (https://docs.aws.amazon.com/comprehend/latest/dg/outputs-cer-async.html), each the
    published record (``aws_examples.entity_output_record``) in the published archive member,
    the true spans except on every n-th line of the recogniser named by ARN, written where the
    job's description will say."""
    from textloop.domain.predictions import span_tuple

    def run_job(params, **_):
        s3 = boto3.client("s3")
        bucket, key = params["InputDataConfig"]["S3Uri"][5:].split("/", 1)
        texts = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
        n = wrong_every[params["EntityRecognizerArn"]]
        records = []
        for i, text in enumerate(texts):
            spans = [] if i % n == 0 else [span_tuple(s) for s in spans_of[text]]
            records.append(
                aws_examples.entity_output_record(
                    i, text, [(b, e, t, 0.9) for b, e, t in spans], file="test.txt"
                )
            )
        archive = aws_examples.output_archive(records, aws_examples.ENTITIES_MEMBER)
        out_bucket, out_key = outputs[params["EntityRecognizerArn"]][5:].split("/", 1)
        s3.put_object(Bucket=out_bucket, Key=out_key, Body=archive)

    client.meta.events.register(
        "before-parameter-build.comprehend.StartEntitiesDetectionJob", run_job
    )


def part_texts(kind: Kind, key_of, name: str) -> set[str]:
    """The texts of one data set file in the lake (a flywheel increment's or a build's)."""
    from textloop.domain.datasets.formats import parse_classifier_csv, parse_entity_files

    if kind.entity:
        documents = parse_entity_files(
            lake_text(key_of(f"{name}.txt")),
            lake_text(key_of(f"{name}-annotations.csv")),
            f"{name}.txt",
        )
    else:
        documents = parse_classifier_csv(
            lake_text(key_of(f"{name}.csv")), "MULTI_CLASS", name=f"{name}.csv"
        )
    return {d["text"] for d in documents}


def run_two_iterations(lambdas, kind: Kind, stack, feed_second, truth_of: dict):
    """Iteration 1 (bootstrap of the flywheel), then ``feed_second()``, then iteration 2;
    returns both executions' outputs and every Comprehend call made."""
    from textloop.adapters import clients

    comprehend = boto3.client("comprehend")
    calls = record_calls(comprehend)
    outputs = {
        kind.trained(n): f"s3://{BUCKET}/models/fw-{n}/test-predictions/out/output.tar.gz"
        for n in (1, 2)
    }
    # The candidate errs on every 20th test document, the model it competes with on every 4th:
    # the candidate's errors are a subset, so no label regresses.
    wrong_every = {kind.trained(1): 20, kind.trained(2): 20}
    if kind.entity:
        simulate_entity_jobs(comprehend, truth_of, wrong_every, outputs)
    else:
        simulate_comprehend_jobs(comprehend, truth_of, wrong_every, outputs)
    stubber = aws_examples.stubber(comprehend)
    stub_iteration(stubber, kind, 1, held=[], active=None, outputs=outputs)
    results = []
    with stubber, clients.override("comprehend", comprehend):
        described = stack.wait(stack.start("it-fw-1", start_input(kind)))
        assert described["status"] == "SUCCEEDED", stack.get_json("audit/iterations/it-fw-1.json")[
            "failure"
        ]
        stubber.assert_no_pending_responses()
        results.append(json.loads(described["output"]))
        first_version = results[0]["training"]["model_version"]
        feed_second()
        wrong_every[kind.trained(1)] = 4
        stub_iteration(
            stubber,
            kind,
            2,
            held=[f"{first_version}-train", f"{first_version}-test"],
            active=kind.trained(1),
            outputs=outputs,
        )
        described = stack.wait(stack.start("it-fw-2", start_input(kind)))
        assert described["status"] == "SUCCEEDED", stack.get_json("audit/iterations/it-fw-2.json")[
            "failure"
        ]
        stubber.assert_no_pending_responses()
        results.append(json.loads(described["output"]))
    return results, calls


def start_input(kind: Kind) -> dict:
    if kind.entity:
        return {"model_type": "ENTITY_RECOGNIZER", "config": {"min_new_items": 0}}
    return {}


def check_flywheel_loop(stack, kind: Kind, results, calls, new_texts: set[str]) -> None:
    from textloop.domain import layout

    names = [name for name, _ in calls]
    assert names.count("CreateFlywheel") == 1
    created = dict(calls)["CreateFlywheel"]
    assert created["FlywheelName"] == kind.flywheel_name
    task = created["TaskConfig"]
    assert task["LanguageCode"] == "en"
    datasets = [params for name, params in calls if name == "CreateDataset"]
    assert [d["DatasetType"] for d in datasets] == ["TRAIN", "TEST", "TRAIN", "TEST"]

    builds = [r["dataset"]["dataset_version"] for r in results]
    versions = [r["training"]["model_version"] for r in results]

    def build_texts(n: int, part: str) -> set[str]:
        return part_texts(kind, lambda name: layout.dataset_key(builds[n], name), part)

    def given(n: int, part: str) -> set[str]:
        return part_texts(
            kind, lambda name: layout.flywheel_dataset_key(kind.model_type, versions[n], name), part
        )

    # Iteration 1 gives the flywheel the whole first data set; iteration 2 only what is new.
    assert given(0, "train") == build_texts(0, "train")
    assert given(0, "test") == build_texts(0, "test")
    assert given(1, "train") == build_texts(1, "train") - build_texts(0, "train")
    assert given(1, "test") == build_texts(1, "test") - build_texts(0, "test")
    assert given(1, "train") and given(1, "train") <= new_texts
    assert given(1, "test") <= new_texts
    assert not given(1, "train") & (build_texts(0, "train") | build_texts(0, "test"))
    for n, (train, test) in enumerate(zip(datasets[::2], datasets[1::2], strict=True)):
        assert train["DatasetName"] == f"{versions[n]}-train"
        assert test["DatasetName"] == f"{versions[n]}-test"
        given_uri = json.dumps(train["InputDataConfig"])
        assert f"datasets/flywheel/{kind.model_type}/{versions[n]}/train" in given_uri
    ledger = stack.get_json(layout.flywheel_ledger_key(kind.model_type))
    assert ledger["flywheel_arn"] == kind.flywheel_arn
    assert sorted(ledger["iterations"]) == sorted(versions)
    # The candidate is the flywheel's trained version, judged on the frozen test set.
    assert build_texts(0, "test") <= build_texts(1, "test")  # frozen: it only grows
    for n, result in enumerate(results, start=1):
        assert result["training"]["job"][kind.model_field] == kind.trained(n)
        assert result["evaluation"]["decision"]["promote"] is True
        assert result["promotion"]["promoted"] is True
        test_documents = f"s3://{BUCKET}/datasets/{result['dataset']['dataset_version']}/"
        started = [
            p
            for name, p in calls
            if name in ("StartDocumentClassificationJob", "StartEntitiesDetectionJob")
        ]
        assert any(
            p[kind.model_param] == kind.trained(n)
            and p["InputDataConfig"]["S3Uri"].startswith(test_documents)
            for p in started
        )
        audit = stack.get_json(f"audit/iterations/it-fw-{n}.json")
        assert audit["status"] == "PROMOTED"
        flywheel = audit["models"]["flywheel"]
        assert flywheel["flywheel_arn"] == kind.flywheel_arn
        assert flywheel["trained_model_arn"] == kind.trained(n)
        assert flywheel["trained_model_metrics"] == TRAINED
        assert flywheel["evaluated_model_metrics"] == (EVALUATED if n == 2 else None)
        assert [d["type"] for d in flywheel["datasets"]] == ["TRAIN", "TEST"]
        assert flywheel["new_documents"]["train"] == len(given(n - 1, "train"))
        assert audit["models"]["candidate"]["metrics"] is not None
    # Promotion: the endpoint and the flywheel's active model both moved to the new version.
    updates = [p for name, p in calls if name == "UpdateFlywheel"]
    assert updates == [
        {"FlywheelArn": kind.flywheel_arn, "ActiveModelArn": kind.trained(n)} for n in (1, 2)
    ]
    endpoint = [p for name, p in calls if name == "UpdateEndpoint"]
    assert endpoint[-1] == {
        "EndpointArn": kind.endpoint,
        "DesiredModelArn": kind.trained(2),
        "DesiredDataAccessRoleArn": DATA_ROLE,
    }
    pointer = json.loads(
        boto3.client("ssm").get_parameter(Name=f"{PREFIX}/active-model/{kind.model_type}")[
            "Parameter"
        ]["Value"]
    )
    assert pointer["model_version"] == versions[1] and pointer["endpoint_arn"] == kind.endpoint


def check_rollback_moves_the_flywheel_back(stack, kind: Kind) -> None:
    """POST /models/rollback to the first version: the endpoint serves it again (read through
    the data access role: it is encrypted with the stack's key) and the flywheel's active model
    moves back with it, so its next iteration competes with the model that serves."""
    from textloop.adapters import clients

    comprehend = boto3.client("comprehend")
    stubber = aws_examples.stubber(comprehend)
    stubber.add_response(
        "update_endpoint",
        aws_examples.response("comprehend/update-endpoint"),
        {
            "EndpointArn": kind.endpoint,
            "DesiredModelArn": kind.trained(1),
            "DesiredDataAccessRoleArn": DATA_ROLE,
        },
    )
    stubber.add_response(
        "update_flywheel",
        kind.flywheel_updated(kind.trained(1), "20230612T211026Z"),
        {"FlywheelArn": kind.flywheel_arn, "ActiveModelArn": kind.trained(1)},
    )
    from textloop.adapters.registry import Registry

    registry = Registry(boto3.client("dynamodb"), stack.environment["REGISTRY_TABLE"])
    first = registry.history(kind.model_type)
    body = {
        "model_type": kind.model_type,
        "model_version": first[0]["model_version"],
        "reason": "regression seen in production",
    }
    with stubber, clients.override("comprehend", comprehend):
        status, answer = stack.api("models", "/models/rollback", "POST", body)
        stubber.assert_no_pending_responses()
        # A retried request changes nothing: no second call to Comprehend.
        again, repeated = stack.api("models", "/models/rollback", "POST", body)
    assert status == 200, answer
    assert again == 200 and repeated["changed"] is False
    entries = registry.history(kind.model_type)
    assert [e["kind"] for e in entries] == ["promotion", "promotion", "rollback"]
    assert {e.get("flywheel_arn") for e in entries} == {kind.flywheel_arn}


def test_a_classifier_flywheel_runs_two_iterations_with_only_new_annotations(lambdas, ag_news_rows):
    kind = Kind("DOCUMENT_CLASSIFIER")
    stack = deploy_iteration_stack(
        lambdas,
        defaults={"model_backend": "comprehend", "comprehend_training": "flywheel"},
        extra_env=kind.env(),
    )
    put_seed(BUCKET, ag_news_rows[:400])
    truth = {text: label for label, text in ag_news_rows}
    fresh = ag_news_rows[3000:3400]
    put_feedback(BUCKET, [], [(label, text) for label, text in fresh[:5]])
    # Three new documents of each label: the split sends some of them to the test set.
    second: list[tuple[str, str]] = []
    for label in sorted({label for label, _ in fresh}):
        second += [(lb, t) for lb, t in fresh[5:] if lb == label][:3]

    results, calls = run_two_iterations(
        lambdas, kind, stack, lambda: put_feedback(BUCKET, [], second), truth
    )
    check_flywheel_loop(stack, kind, results, calls, {t for _, t in second})
    check_rollback_moves_the_flywheel_back(stack, kind)
    task = dict(calls)["CreateFlywheel"]["TaskConfig"]["DocumentClassificationConfig"]
    assert task["Mode"] == "MULTI_CLASS"
    assert task["Labels"] == stack.get_json(results[0]["dataset"]["manifest_key"])["labels"]


@pytest.fixture(scope="module")
def gold():
    from tests.support.ner import gold_documents

    return gold_documents()


def test_a_recognizer_flywheel_runs_two_iterations_with_only_new_annotations(lambdas, gold):
    from tests.unit.test_entity_iteration import put_pool

    kind = Kind("ENTITY_RECOGNIZER")
    stack = deploy_iteration_stack(
        lambdas,
        defaults={
            "review_budget": 0,
            "model_backend": "comprehend",
            "ENTITY_RECOGNIZER": {"comprehend_training": "flywheel"},
        },
        extra_env=kind.env(),
    )
    put_pool(gold[:120])
    spans = {d["text"]: d["entities"] for d in gold}
    results, calls = run_two_iterations(
        lambdas, kind, stack, lambda: put_pool(gold, iteration_id="more-gold"), spans
    )
    check_flywheel_loop(stack, kind, results, calls, {d["text"] for d in gold[120:]})
    check_rollback_moves_the_flywheel_back(stack, kind)
    task = dict(calls)["CreateFlywheel"]["TaskConfig"]["EntityRecognitionConfig"]
    labels = stack.get_json(results[0]["dataset"]["manifest_key"])["labels"]
    assert [t["Type"] for t in task["EntityTypes"]] == labels


def test_a_failed_flywheel_iteration_fails_the_iteration_with_comprehend_s_message(
    lambdas, ag_news_rows
):
    from textloop.adapters import clients

    kind = Kind("DOCUMENT_CLASSIFIER")
    stack = deploy_iteration_stack(
        lambdas,
        defaults={"model_backend": "comprehend", "comprehend_training": "flywheel"},
        extra_env=kind.env(),
    )
    put_seed(BUCKET, ag_news_rows[:400])
    put_feedback(BUCKET, [], [(label, text) for label, text in ag_news_rows[3000:3005]])
    comprehend = boto3.client("comprehend")
    stubber = aws_examples.stubber(comprehend)
    message = "Internal error: the iteration could not train a model version"
    stub_iteration(stubber, kind, 1, held=[], active=None, outputs={}, failed=message)
    with stubber, clients.override("comprehend", comprehend):
        described = stack.wait(stack.start("it-fw-failed"))
        stubber.assert_no_pending_responses()
    assert described["status"] == "FAILED"
    audit = stack.get_json("audit/iterations/it-fw-failed.json")
    assert audit["status"] == "FAILED"
    assert audit["failure"]["state"] == "DescribeTraining"
    assert audit["failure"]["error"] == "Textloop.TrainingFailed"
    assert message in audit["failure"]["cause"]
    flywheel = audit["models"]["flywheel"]
    assert flywheel["status"] == "FAILED" and flywheel["message"] == message
    assert flywheel["trained_model_arn"] is None and flywheel["trained_model_metrics"] is None
    assert [d["type"] for d in flywheel["datasets"]] == ["TRAIN", "TEST"]
    lock = boto3.client("dynamodb").get_item(
        TableName="textloop-test-registry",
        Key={"pk": {"S": "LOCK#DOCUMENT_CLASSIFIER"}, "sk": {"S": "LOCK"}},
    )
    assert "Item" not in lock

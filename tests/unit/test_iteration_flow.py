"""The iteration state machine (the draft ASL) executed by moto, with every step Lambda run
in-process: the paths an iteration can take, end to end."""

from __future__ import annotations

import io
import json

import boto3
import pytest

from tests.support import aws_examples
from tests.support.iteration_data import put_feedback, put_seed
from tests.support.iteration_stack import BUCKET, PREFIX, deploy_iteration_stack

SEED_ROWS = 400


@pytest.fixture
def truth(ag_news_rows):
    return {text: label for label, text in ag_news_rows}


@pytest.fixture
def fresh_texts(ag_news_rows):
    """Texts outside the seed, for feedback."""
    return [text for _, text in ag_news_rows[3000:3100]]


def seeded(lambdas, ag_news_rows, **kwargs):
    stack = deploy_iteration_stack(lambdas, **kwargs)
    put_seed(BUCKET, ag_news_rows[:SEED_ROWS])
    return stack


def test_first_iteration_promotes_and_the_model_serves(lambdas, ag_news_rows, truth, fresh_texts):
    stack = seeded(lambdas, ag_news_rows)
    corrections = [(truth[t], t) for t in fresh_texts[20:25]]
    put_feedback(BUCKET, fresh_texts[:12], corrections, chunked=4)

    arn = stack.start("it-promote")
    tasks = stack.wait_for_tasks("it-promote")
    assert len(tasks) == 2 and sum(len(t["items"]) for t in tasks) == 12
    assert tasks[0]["options"] == ["Business", "SciTech", "Sports", "World"]
    for task in tasks:
        status, body = stack.answer(task, truth.get)
        assert status == 200 and body["status"] == "answered" and not body["duplicate"]
    described = stack.wait(arn)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["promotion"]["promoted"] is True
    assert output["evaluation"]["decision"]["outcome"] == "promote"
    assert output["pool"]["answers"] == 17

    audit = stack.get_json("audit/iterations/it-promote.json")
    assert audit["status"] == "PROMOTED"
    assert audit["reviewers"] == ["rev-1", "user-1"]
    assert audit["annotation_pool"]["annotations"] == 17
    model_version = output["training"]["model_version"]
    figures = stack.get_json(output["evaluation"]["candidate_key"])["figures"]
    # Multi-class: a confusion matrix, no precision-recall curves.
    assert figures == {"confusion_matrix": f"models/{model_version}/confusion-matrix.png"}
    assert stack.keys(f"models/{model_version}/confusion-matrix.png")
    pointer = json.loads(
        boto3.client("ssm").get_parameter(Name=f"{PREFIX}/active-model/DOCUMENT_CLASSIFIER")[
            "Parameter"
        ]["Value"]
    )
    assert pointer["model_version"] == model_version

    status, body = stack.api(
        "classify",
        "/classify",
        "POST",
        {"text": fresh_texts[50], "model_type": "DOCUMENT_CLASSIFIER"},
    )
    assert status == 200 and body["model_version"] == model_version
    status, history = stack.api("models", "/models")
    assert [e["model_version"] for e in history["history"]] == [model_version]
    assert any("PROMOTED" in n["Message"] for n in stack.notifications())
    assert stack.invoke("release_lock", {"iteration": output["iteration"]}) == {"released": False}


def put_active_model(model) -> None:
    from textloop.adapters.active_model import (
        ActiveModelPointer,
        ActiveModelPointerStore,
        pointer_parameter_name,
    )
    from textloop.adapters.artefacts import ModelArtefactStore
    from textloop.domain import local_model

    uri = ModelArtefactStore(boto3.client("s3"), BUCKET).put(
        model.model_version, local_model.save(model), model.metadata
    )
    ActiveModelPointerStore(
        boto3.client("ssm"), pointer_parameter_name(PREFIX, "DOCUMENT_CLASSIFIER")
    ).put(
        ActiveModelPointer(
            model_version=model.model_version,
            backend="local",
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_CLASS",
            artefact_uri=uri,
        )
    )


def active_version() -> str:
    value = boto3.client("ssm").get_parameter(Name=f"{PREFIX}/active-model/DOCUMENT_CLASSIFIER")
    return json.loads(value["Parameter"]["Value"])["model_version"]


def test_candidate_below_the_gate_margin_is_rejected(
    lambdas, ag_news_rows, truth, fresh_texts, ag_news_model
):
    stack = seeded(lambdas, ag_news_rows, defaults={"promotion_min_improvement": 0.5})
    put_active_model(ag_news_model)
    put_feedback(BUCKET, fresh_texts[:6], [(truth[t], t) for t in fresh_texts[20:23]])

    arn = stack.start("it-reject")
    (task,) = stack.wait_for_tasks("it-reject")
    # The active model re-scored the candidates: its suggestion is on every item.
    assert all(item["suggestion"]["labels"] for item in task["items"])
    stack.answer(task, truth.get)
    described = stack.wait(arn)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    decision = output["evaluation"]["decision"]
    assert decision["outcome"] == "reject" and "not enough" in decision["reason"]
    assert decision["active_model_version"] == ag_news_model.model_version
    assert output["evaluation"]["active_key"] == "audit/iterations/it-reject/active-evaluation.json"
    assert active_version() == ag_news_model.model_version
    audit = stack.get_json("audit/iterations/it-reject.json")
    assert audit["status"] == "REJECTED"
    assert audit["models"]["active"]["metrics"]["test_set_hash"] == decision["test_set_hash"]
    assert audit["models"]["candidate"]["metrics"]["test_set_hash"] == decision["test_set_hash"]


def test_too_little_new_feedback_ends_early_as_a_recorded_no_op(lambdas, ag_news_rows, fresh_texts):
    stack = seeded(lambdas, ag_news_rows)
    put_feedback(BUCKET, fresh_texts[:2])

    # What the EventBridge schedule's target sends (terraform/modules/textloop/loop.tf).
    described = stack.wait(
        stack.start("it-noop", {"model_type": "DOCUMENT_CLASSIFIER", "trigger": "schedule"})
    )
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["iteration"]["new_items"] == {
        "count": 2,
        "minimum": 3,
        "enough": False,
        "reason": "only 2 new feedback item(s); at least 3 are needed",
    }
    assert output["lock_released"] == {"released": True}
    audit = stack.get_json("audit/iterations/it-noop.json")
    assert audit["status"] == "NO_DECISION" and audit["inputs"]["outcome"] == "NO_OP"
    assert audit["inputs"]["reason"].startswith("only 2 new")
    assert audit["inputs"]["trigger"] == output["iteration"]["trigger"] == "schedule"
    assert stack.keys("reviews/") == []


def test_unanswered_review_times_out_and_its_items_come_back(
    lambdas, ag_news_rows, truth, fresh_texts
):
    stack = seeded(lambdas, ag_news_rows, defaults={"review_timeout_seconds": 1})
    put_feedback(BUCKET, fresh_texts[:6], [(truth[t], t) for t in fresh_texts[20:25]])

    described = stack.wait(stack.start("it-timeout"))
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    (batch,) = output["reviews"]["batches"]
    assert batch["status"] == "expired" and batch["answered"] == 0
    # The iteration went on with what people did answer: the five explicit corrections.
    assert output["pool"]["answers"] == 5
    assert output["promotion"]["promoted"] is True
    task = stack.get_json(f"reviews/it-timeout/batches/{batch['batch_id']}/task.json")
    status, body = stack.answer(task, truth.get)
    assert status == 409 and body["status"] == "expired"
    # The next iteration sees the six unanswered items as new again, and only them.
    prepared = stack.invoke(
        "prepare",
        {
            "input": {},
            "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:x:probe",
            "iteration_id": "probe",
            "started_at": "2025-11-23T02:27:03.324Z",
        },
    )
    assert prepared["new_items"]["count"] == 6


ROLE = "arn:aws:iam::123456789012:role/textloop-comprehend-data"


def comprehend_stack(lambdas, ag_news_rows, **env: str):
    """The seeded stack with the Comprehend back-end and its data access role."""
    return seeded(
        lambdas,
        ag_news_rows,
        defaults={"model_backend": "comprehend"},
        extra_env={"COMPREHEND_DATA_ACCESS_ROLE_ARN": ROLE, **env},
    )


# The stack's tags on every Comprehend resource an iteration creates (STACK_NAME of the
# seeded stack), so `textloop resources` finds them.
CLASSIFIER_TAGS = [
    {"Key": "textloop:stack", "Value": "textloop-test"},
    {"Key": "textloop:model-type", "Value": "DOCUMENT_CLASSIFIER"},
]


def stub_training(stubber, classifier: str, role: str, described: dict) -> None:
    """CreateDocumentClassifier answered with ``classifier``, then one DescribeDocumentClassifier
    answered with ``described`` (Status, Message): the CLI's examples of both, for ``classifier``
    (a version that is not TRAINED has no end time or metrics yet)."""
    from botocore.stub import ANY

    stubber.add_response(
        "create_document_classifier",
        aws_examples.response(
            "comprehend/create-document-classifier", DocumentClassifierArn=classifier
        ),
        {
            "DocumentClassifierName": "textloop-document-classifier",
            "VersionName": ANY,
            "DataAccessRoleArn": role,
            "InputDataConfig": ANY,
            "OutputDataConfig": ANY,
            "LanguageCode": "en",
            "Mode": "MULTI_CLASS",
            "ClientRequestToken": ANY,
            "Tags": CLASSIFIER_TAGS,
        },
    )
    unfinished = {
        key: aws_examples.DROP
        for key in ("EndTime", "TrainingEndTime", "ClassifierMetadata")
        if described["Status"] != "TRAINED"
    }
    stubber.add_response(
        "describe_document_classifier",
        aws_examples.response(
            "comprehend/describe-document-classifier",
            DocumentClassifierProperties={
                "DocumentClassifierArn": classifier,
                "DataAccessRoleArn": role,
                "VersionName": classifier.rsplit("/", 1)[-1],
                **unfinished,
                **described,
            },
        ),
        {"DocumentClassifierArn": classifier},
    )


def test_failed_comprehend_training_fails_the_iteration_and_frees_the_lock(
    lambdas, ag_news_rows, truth, fresh_texts
):
    from textloop.adapters import clients

    stack = comprehend_stack(lambdas, ag_news_rows)
    put_feedback(BUCKET, [], [(truth[t], t) for t in fresh_texts[20:25]])
    comprehend = boto3.client("comprehend")
    classifier = (
        "arn:aws:comprehend:us-east-1:123456789012:document-classifier/"
        "textloop-document-classifier/version/it-train-fail-x"
    )
    stubber = aws_examples.stubber(comprehend)
    stub_training(
        stubber,
        classifier,
        ROLE,
        {
            "Status": "IN_ERROR",
            "Message": "Insufficient training data: at least 50 documents per label",
        },
    )
    with stubber, clients.override("comprehend", comprehend):
        described = stack.wait(stack.start("it-train-fail"))
        stubber.assert_no_pending_responses()
    assert described["status"] == "FAILED"
    assert described["error"] == "Textloop.IterationFailed"
    audit = stack.get_json("audit/iterations/it-train-fail.json")
    assert audit["status"] == "FAILED"
    assert audit["failure"]["state"] == "DescribeTraining"
    assert audit["failure"]["error"] == "Textloop.TrainingFailed"
    assert "Insufficient training data" in audit["failure"]["cause"]
    assert audit["dataset"] is not None and audit["models"]["candidate"]["metrics"] is None
    messages = [n for n in stack.notifications() if n.get("Subject") == "textloop iteration FAILED"]
    assert len(messages) == 1 and "Textloop.TrainingFailed" in messages[0]["Message"]
    lock = boto3.client("dynamodb").get_item(
        TableName="textloop-test-registry",
        Key={"pk": {"S": "LOCK#DOCUMENT_CLASSIFIER"}, "sk": {"S": "LOCK"}},
    )
    assert "Item" not in lock


ENDPOINT = "arn:aws:comprehend:us-east-1:123456789012:document-classifier-endpoint/textloop"
ACTIVE_CLASSIFIER = (
    "arn:aws:comprehend:us-east-1:123456789012:document-classifier/"
    "textloop-document-classifier/version/active-v1"
)


def job_started(job_id: str) -> dict:
    """The CLI's start-document-classification-job example, for ``job_id``."""
    return aws_examples.response(
        "comprehend/start-document-classification-job",
        JobId=job_id,
        JobArn=f"arn:aws:comprehend:us-east-1:123456789012:document-classification-job/{job_id}",
    )


def job_described(job_id: str, status: str, classifier: str, **changes) -> dict:
    """The CLI's describe-document-classification-job example, for ``job_id`` of
    ``classifier``; a job that has not completed has no end time."""
    return aws_examples.response(
        "comprehend/describe-document-classification-job",
        DocumentClassificationJobProperties={
            "JobId": job_id,
            "JobArn": f"arn:aws:comprehend:us-east-1:123456789012:document-classification-job/"
            f"{job_id}",
            "JobStatus": status,
            "DocumentClassifierArn": classifier,
            "DataAccessRoleArn": ROLE,
            **({} if status == "COMPLETED" else {"EndTime": aws_examples.DROP}),
            **changes,
        },
    )


def lake_text(key: str) -> str:
    return boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


def simulate_comprehend_jobs(
    client, label_of: dict, wrong_every: dict, outputs: dict
) -> list[dict]:
    """What Comprehend does when a batch classification job runs, for the Stubber-ed client:
    read the job's input from the lake and write ``output.tar.gz`` where the job's description
    will say. A classifier (named by ARN) answers the true label except on every n-th line.
    Returns the jobs' parameters, as they are started."""

    started: list[dict] = []

    def run_job(params, **_):
        started.append(params)
        s3 = boto3.client("s3")
        bucket, key = params["InputDataConfig"]["S3Uri"][5:].split("/", 1)
        texts = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
        n = wrong_every[params["DocumentClassifierArn"]]
        lines = []
        for i, text in enumerate(texts):
            label = label_of[text]
            if i % n == 0:
                label = "World" if label != "World" else "Sports"
            # The layout of the published multi-class output (outputs-class-async).
            lines.append(
                aws_examples.classification_output_record(
                    i, [(label, 0.9)], file="test-documents.txt"
                )
            )
        archive = aws_examples.output_archive(lines, aws_examples.CLASSIFICATION_MEMBER)
        out_bucket, out_key = outputs[params["DocumentClassifierArn"]][5:].split("/", 1)
        s3.put_object(Bucket=out_bucket, Key=out_key, Body=archive)

    client.meta.events.register(
        "before-parameter-build.comprehend.StartDocumentClassificationJob", run_job
    )
    return started


def test_comprehend_candidate_and_active_endpoint_are_judged_on_the_same_test_documents(
    lambdas, ag_news_rows, truth, fresh_texts
):
    from botocore.stub import ANY
    from textloop.adapters import clients
    from textloop.adapters.active_model import (
        ActiveModelPointer,
        ActiveModelPointerStore,
        pointer_parameter_name,
    )

    stack = comprehend_stack(lambdas, ag_news_rows, COMPREHEND_CLASSIFIER_ENDPOINT_ARN=ENDPOINT)
    ActiveModelPointerStore(
        boto3.client("ssm"), pointer_parameter_name(PREFIX, "DOCUMENT_CLASSIFIER")
    ).put(
        ActiveModelPointer(
            model_version="active-v1",
            backend="comprehend",
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_CLASS",
            endpoint_arn=ENDPOINT,
        )
    )
    put_feedback(BUCKET, [], [(truth[t], t) for t in fresh_texts[20:30]])
    candidate = (
        "arn:aws:comprehend:us-east-1:123456789012:document-classifier/"
        "textloop-document-classifier/version/it-comprehend-x"
    )
    outputs = {
        candidate: f"s3://{BUCKET}/models/it-comprehend/test-predictions/out/output.tar.gz",
        ACTIVE_CLASSIFIER: f"s3://{BUCKET}/models/active-v1/test-predictions/out/output.tar.gz",
    }
    comprehend = boto3.client("comprehend")
    # The candidate is wrong on every 10th test document, the active model on every 4th.
    started = simulate_comprehend_jobs(
        comprehend, truth, {candidate: 10, ACTIVE_CLASSIFIER: 4}, outputs
    )
    stubber = aws_examples.stubber(comprehend)
    stub_training(stubber, candidate, ROLE, {"Status": "TRAINED"})
    job = {
        "JobName": ANY,
        "InputDataConfig": ANY,
        "OutputDataConfig": ANY,
        "DataAccessRoleArn": ROLE,
        "ClientRequestToken": ANY,
        "Tags": CLASSIFIER_TAGS,
    }
    stubber.add_response(
        "start_document_classification_job",
        job_started("job-candidate"),
        {**job, "DocumentClassifierArn": candidate},
    )
    stubber.add_response(
        "describe_endpoint",
        aws_examples.response(
            "comprehend/describe-endpoint",
            EndpointProperties={
                "EndpointArn": ENDPOINT,
                "ModelArn": ACTIVE_CLASSIFIER,
                "DesiredModelArn": ACTIVE_CLASSIFIER,
            },
        ),
        {"EndpointArn": ENDPOINT},
    )
    stubber.add_response(
        "start_document_classification_job",
        job_started("job-active"),
        {**job, "DocumentClassifierArn": ACTIVE_CLASSIFIER},
    )
    for job_id, arn in (("job-candidate", candidate), ("job-active", ACTIVE_CLASSIFIER)):
        stubber.add_response(
            "describe_document_classification_job",
            job_described(job_id, "COMPLETED", arn, OutputDataConfig={"S3Uri": outputs[arn]}),
            {"JobId": job_id},
        )
    stubber.add_response(
        "update_endpoint",
        aws_examples.response("comprehend/update-endpoint"),
        {"EndpointArn": ENDPOINT, "DesiredModelArn": candidate},
    )
    with stubber, clients.override("comprehend", comprehend):
        described = stack.wait(stack.start("it-comprehend"))
        stubber.assert_no_pending_responses()
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["test_predictions"]["status"] == "COMPLETED"
    assert output["test_predictions"]["polls"] == 1
    jobs = output["test_predictions"]["jobs"]
    assert jobs["candidate"]["job_id"] == "job-candidate"
    assert jobs["active"]["model_version"] == "active-v1"

    from textloop.domain.datasets.formats import parse_classifier_csv

    test_documents = parse_classifier_csv(
        lake_text(output["dataset"]["test_uri"].split("/", 3)[3]), "MULTI_CLASS", name="test.csv"
    )
    n = len(test_documents)
    lines = lake_text(f"datasets/{output['dataset']['dataset_version']}/test-documents.txt")
    assert lines.splitlines() == [" ".join(d["text"].splitlines()) for d in test_documents]
    dataset_version = output["dataset"]["dataset_version"]
    versions = {candidate: output["training"]["model_version"], ACTIVE_CLASSIFIER: "active-v1"}
    assert [p["DocumentClassifierArn"] for p in started] == [candidate, ACTIVE_CLASSIFIER]
    for params in started:
        assert params["InputDataConfig"] == {
            "S3Uri": f"s3://{BUCKET}/datasets/{dataset_version}/test-documents.txt",
            "InputFormat": "ONE_DOC_PER_LINE",
        }
        assert params["OutputDataConfig"] == {
            "S3Uri": f"s3://{BUCKET}/models/{versions[params['DocumentClassifierArn']]}"
            f"/test-predictions/{dataset_version}/"
        }
    candidate_eval = stack.get_json(output["evaluation"]["candidate_key"])
    active_eval = stack.get_json(output["evaluation"]["active_key"])
    assert candidate_eval["n"] == active_eval["n"] == n
    assert candidate_eval["test_set_hash"] == active_eval["test_set_hash"]
    wrong_candidate, wrong_active = len(range(0, n, 10)), len(range(0, n, 4))
    assert candidate_eval["Accuracy"] == pytest.approx(1 - wrong_candidate / n)
    assert active_eval["Accuracy"] == pytest.approx(1 - wrong_active / n)
    assert candidate_eval["predictions"] == {
        "kind": "batch_job",
        "backend": "comprehend",
        "job_id": "job-candidate",
        # StartDocumentClassificationJob answers the job's ARN too (the published example).
        "job_arn": job_started("job-candidate")["JobArn"],
        "output_uri": outputs[candidate],
    }
    assert output["evaluation"]["decision"]["promote"] is True
    assert active_eval["figures"] == {
        "confusion_matrix": "audit/iterations/it-comprehend/active-confusion-matrix.png"
    }
    assert stack.keys("audit/iterations/it-comprehend/active-confusion-matrix.png")
    assert output["promotion"]["promoted"] is True
    audit = stack.get_json("audit/iterations/it-comprehend.json")
    assert audit["status"] == "PROMOTED"
    pointer = json.loads(
        boto3.client("ssm").get_parameter(Name=f"{PREFIX}/active-model/DOCUMENT_CLASSIFIER")[
            "Parameter"
        ]["Value"]
    )
    assert pointer["backend"] == "comprehend" and pointer["endpoint_arn"] == ENDPOINT
    assert pointer["model_version"] == output["training"]["model_version"]


def test_failed_prediction_job_fails_the_iteration_at_its_poll(
    lambdas, ag_news_rows, truth, fresh_texts
):
    from botocore.stub import ANY
    from textloop.adapters import clients

    stack = comprehend_stack(lambdas, ag_news_rows)
    put_feedback(BUCKET, [], [(truth[t], t) for t in fresh_texts[20:25]])
    candidate = (
        "arn:aws:comprehend:us-east-1:123456789012:document-classifier/"
        "textloop-document-classifier/version/it-predict-fail-x"
    )
    comprehend = boto3.client("comprehend")
    stubber = aws_examples.stubber(comprehend)
    stub_training(stubber, candidate, ROLE, {"Status": "TRAINED"})
    stubber.add_response(
        "start_document_classification_job",
        job_started("job-1"),
        {
            "JobName": ANY,
            "DocumentClassifierArn": candidate,
            "InputDataConfig": ANY,
            "OutputDataConfig": ANY,
            "DataAccessRoleArn": ROLE,
            "ClientRequestToken": ANY,
            "Tags": CLASSIFIER_TAGS,
        },
    )
    stubber.add_response(
        "describe_document_classification_job",
        job_described("job-1", "IN_PROGRESS", candidate),
        {"JobId": "job-1"},
    )
    stubber.add_response(
        "describe_document_classification_job",
        job_described("job-1", "FAILED", candidate, Message="Access denied to the output location"),
        {"JobId": "job-1"},
    )
    with stubber, clients.override("comprehend", comprehend):
        described = stack.wait(stack.start("it-predict-fail"))
        stubber.assert_no_pending_responses()
    assert described["status"] == "FAILED"
    audit = stack.get_json("audit/iterations/it-predict-fail.json")
    assert audit["status"] == "FAILED"
    assert audit["failure"]["state"] == "DescribeTestPredictions"
    assert audit["failure"]["error"] == "Textloop.TestPredictionsFailed"
    assert "Access denied to the output location" in json.dumps(audit["failure"]["cause"])
    assert audit["models"]["candidate"]["metrics"] is None


def test_second_iteration_is_refused_while_the_first_waits_and_duplicates_change_nothing(
    lambdas, ag_news_rows, truth, fresh_texts
):
    stack = seeded(lambdas, ag_news_rows)
    put_feedback(BUCKET, fresh_texts[:6])
    first = stack.start("it-first")
    (task,) = stack.wait_for_tasks("it-first")

    second = stack.wait(stack.start("it-second", {"model_type": "DOCUMENT_CLASSIFIER"}))
    assert second["status"] == "FAILED" and second["error"] == "Textloop.IterationAlreadyRunning"
    # Refused, yet audited and notified; the first iteration keeps its lock.
    refused = stack.get_json("audit/iterations/it-second.json")
    assert refused["status"] == "FAILED" and refused["failure"]["state"] == "Prepare"
    assert refused["failure"]["error"] == "Textloop.IterationAlreadyRunning"
    assert first in refused["failure"]["cause"]
    (message,) = failure_notifications(stack)
    assert "Textloop.IterationAlreadyRunning" in message["Message"]
    assert lock_item()["holder"]["S"] == first
    status, body = stack.api("iterations", "/iterations", "POST", {})
    assert status == 409 and body["execution_arn"] == first
    status, body = stack.api("iterations", "/iterations", "POST", {"config": {"budget": 3}})
    assert status == 400 and body["errors"][0]["field"] == "config.budget"

    status, pending = stack.api("reviews", "/reviews")
    assert [r["batch_id"] for r in pending["reviews"]] == [task["batch_id"]]
    status, shown = stack.api("reviews", f"/reviews/{task['batch_id']}")
    assert status == 200 and "task_token" not in shown and shown["status"] == "pending"
    wrong_label = {"item_id": task["items"][0]["item_id"], "labels": ["Weather"]}
    status, body = stack.api(
        "reviews",
        f"/reviews/{task['batch_id']}/answers",
        "POST",
        {"answers": [wrong_label]},
    )
    assert status == 400 and body["errors"][0]["field"] == "answers[0].labels"

    assert stack.answer(task, truth.get)[1]["duplicate"] is False
    status, body = stack.answer(task, truth.get)
    assert status == 200 and body["duplicate"] is True
    status, body = stack.answer(task, lambda _: "Sports")
    assert status == 409 and body["status"] == "answered"
    described = stack.wait(first)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["pool"]["answers"] == 6

    status, body = stack.api("iterations", "/iterations", "POST", {})
    assert status == 202
    assert stack.wait(body["executionArn"])["status"] == "SUCCEEDED"
    status, shown = stack.api("iterations", f"/iterations/{body['iteration_id']}")
    assert shown["status"] == "SUCCEEDED" and shown["audit"]["status"] == "NO_DECISION"
    assert shown["audit"]["inputs"]["trigger"] == "api"
    # Who started it: the operator of the token (tests.support.iteration_stack.DEFAULT_PEOPLE).
    assert shown["audit"]["inputs"]["started_by"] == "operator-1"
    status, forged = stack.api("iterations", "/iterations", "POST", {"trigger": "schedule"})
    assert status == 400 and forged["errors"][0]["field"] == "trigger"
    status, forged = stack.api("iterations", "/iterations", "POST", {"started_by": "ceo"})
    assert status == 400 and forged["errors"][0]["field"] == "started_by"
    status, listed = stack.api("iterations", "/iterations")
    assert {i["iteration_id"] for i in listed["iterations"]} == {
        "it-first",
        "it-second",
        body["iteration_id"],
    }


def test_a2i_review_completes_once_however_often_the_event_arrives(
    lambdas, ag_news_rows, truth, fresh_texts
):
    from botocore.stub import ANY
    from textloop.adapters import clients
    from textloop.domain import reviews

    flow = "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/textloop-review"
    stack = seeded(
        lambdas,
        ag_news_rows,
        extra_env={"REVIEW_BACKEND": "a2i", "A2I_FLOW_DEFINITION_ARN": flow},
    )
    put_feedback(BUCKET, fresh_texts[:6])
    a2i = boto3.client("sagemaker-a2i-runtime")
    stubber = aws_examples.stubber(a2i)
    stubber.add_response(
        "start_human_loop",
        aws_examples.response(
            "sagemaker-a2i-runtime/start-human-loop",
            HumanLoopArn="arn:aws:sagemaker:us-east-1:123456789012:human-loop/x",
        ),
        {"HumanLoopName": ANY, "FlowDefinitionArn": flow, "HumanLoopInput": ANY},
    )
    with stubber, clients.override("sagemaker-a2i-runtime", a2i):
        arn = stack.start("it-a2i")
        (task,) = stack.wait_for_tasks("it-a2i")
        # The task is stored before the loop starts: wait for the StartHumanLoop call.
        stack.wait_for(lambda: _no_pending(stubber), "StartHumanLoop")
    loop = task["batch_id"]
    output_key = f"a2i-output/textloop-review/2025/11/23/02/27/03/{loop}/output.json"
    # The published output.json of a custom task (a2i-output-data.html): this loop, the input
    # it was started with, the classifier template's answers field.
    answers = [{"item_id": i["item_id"], "labels": [truth[i["text"]]]} for i in task["items"]]
    output = aws_examples.a2i_output(
        aws_examples.human_answer(aws_examples.answers_field(answers), worker_id="a1b2c3d4e5f6"),
        loop=loop,
        flow_definition_arn=flow,
        input_content=json.loads(reviews.a2i_input_content(task)),
    )
    boto3.client("s3").put_object(Bucket=BUCKET, Key=output_key, Body=json.dumps(output))
    # The published "SageMaker A2I HumanLoop Status Change" event (a2i-cloudwatch-events.html).
    event = aws_examples.a2i_status_change(
        loop, flow_definition_arn=flow, output_uri=f"s3://{BUCKET}/{output_key}"
    )
    first = stack.invoke("a2i_callback", event)
    assert first["duplicate"] is False and first["answered"] == 6
    stored = stack.get_json(f"reviews/it-a2i/batches/{loop}/answers.json")
    described = stack.wait(arn)
    assert described["status"] == "SUCCEEDED", described
    again = stack.invoke("a2i_callback", event)
    assert again["duplicate"] is True and again["token_delivered"] is False
    assert stack.get_json(f"reviews/it-a2i/batches/{loop}/answers.json") == stored
    assert stored["reviewers"] == ["a1b2c3d4e5f6"] and stored["source"] == "a2i"
    assert json.loads(described["output"])["pool"]["reviewers"] == ["a1b2c3d4e5f6"]
    failed = stack.invoke(
        "a2i_callback", {**event, "detail": {**event["detail"], "humanLoopStatus": "Failed"}}
    )
    assert failed == {"batch_id": loop, "status": "answered", "ignored": True}


def _no_pending(stubber) -> bool:
    try:
        stubber.assert_no_pending_responses()
    except AssertionError:
        return False
    return True


def test_manual_approval_promotes_once_a_person_signs(lambdas, ag_news_rows, truth, fresh_texts):
    stack = seeded(lambdas, ag_news_rows, defaults={"manual_approval": True})
    put_feedback(BUCKET, fresh_texts[:6])
    arn = stack.start("it-approve")
    (task,) = stack.wait_for_tasks("it-approve")
    stack.answer(task, truth.get)
    request = stack.wait_for(
        lambda: stack.get_json("reviews/it-approve/approval.json"), "the approval request"
    )
    assert request["candidate_model_version"]
    stack.wait_for(
        lambda: any(n.get("Subject") == "textloop: approval needed" for n in stack.notifications()),
        "the approval notification",
    )
    status, body = stack.api("approvals", "/approvals/it-nope", "POST", {"approved": True})
    assert status == 404
    decision = {"approved": True, "comment": "numbers look right"}
    status, body = stack.api("approvals", "/approvals/it-approve", "POST", decision)
    assert status == 200 and body == {
        "iteration_id": "it-approve",
        "approved": True,
        "duplicate": False,
    }
    described = stack.wait(arn)
    assert described["status"] == "SUCCEEDED", described
    assert stack.api("approvals", "/approvals/it-approve", "POST", decision)[1]["duplicate"] is True
    status, _ = stack.api(
        "approvals", "/approvals/it-approve", "POST", {**decision, "approved": False}
    )
    assert status == 409
    assert active_version() == request["candidate_model_version"]
    audit = stack.get_json("audit/iterations/it-approve.json")
    assert audit["status"] == "PROMOTED" and audit["inputs"]["approval"]["approved"] is True
    # The approver is the token's person (tests.support.iteration_stack.DEFAULT_PEOPLE).
    assert audit["inputs"]["approval"]["approver"] == "lead@example.com"


def lock_item() -> dict | None:
    return (
        boto3.client("dynamodb")
        .get_item(
            TableName="textloop-test-registry",
            Key={"pk": {"S": "LOCK#DOCUMENT_CLASSIFIER"}, "sk": {"S": "LOCK"}},
        )
        .get("Item")
    )


def failure_notifications(stack) -> list[dict]:
    return [n for n in stack.notifications() if n.get("Subject") == "textloop iteration FAILED"]


def test_an_invalid_input_fails_in_prepare_audited_and_notified(lambdas, ag_news_rows):
    stack = seeded(lambdas, ag_news_rows)
    bad = {"model_type": "DOCUMENT_CLASSIFIER", "trigger": "cron", "config": {"budget": 3}}

    described = stack.wait(stack.start("it-invalid", bad))
    assert described["status"] == "FAILED"
    assert described["error"] == "Textloop.IterationFailed"
    audit = stack.get_json("audit/iterations/it-invalid.json")
    assert audit["status"] == "FAILED" and audit["execution_arn"] == described["executionArn"]
    assert audit["failure"]["state"] == "Prepare"
    assert audit["failure"]["error"] == "Textloop.InvalidIterationInput"
    assert "config.budget" in audit["failure"]["error_message"]
    assert "trigger" in audit["failure"]["error_message"]
    # What was asked, as given; the settings the deployment would have run with.
    assert audit["inputs"]["input"] == bad
    assert audit["inputs"]["trigger"] is None
    assert audit["inputs"]["config"]["min_new_items"] == 3
    assert audit["model_type"] == "DOCUMENT_CLASSIFIER" and audit["mode"] == "MULTI_CLASS"
    (message,) = failure_notifications(stack)
    assert "Textloop.InvalidIterationInput" in message["Message"]
    states = [
        e["stateEnteredEventDetails"]["name"]
        for e in stack.history(described["executionArn"])
        if "stateEnteredEventDetails" in e
    ]
    assert states[-5:] == [
        "RecordPrepareFailure",
        "NotifyFailure",
        "ReleaseLockAfterFailure",
        "Refused?",
        "Failed",
    ]


def test_a_prepare_crash_after_the_api_took_the_lock_is_audited_and_unlocked(
    lambdas, ag_news_rows, fresh_texts
):
    stack = seeded(lambdas, ag_news_rows)
    put_feedback(BUCKET, fresh_texts[:6])
    # Not a feedback record: Prepare's scan of the lake fails on it.
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key="feedback/model_version=v1/dt=2025-11-23/x.json", Body=b"[1, 2]"
    )
    status, started = stack.api(
        "iterations", "/iterations", "POST", {"config": {"test_share": 0.3}}
    )
    assert status == 202, started
    described = stack.wait(started["executionArn"])
    assert described["status"] == "FAILED" and described["error"] == "Textloop.IterationFailed"
    audit = stack.get_json(f"audit/iterations/{started['iteration_id']}.json")
    assert audit["status"] == "FAILED" and audit["failure"]["state"] == "Prepare"
    assert "feedback/model_version=v1/dt=2025-11-23/x.json" in audit["failure"]["error_message"]
    # The input was valid: the record shows the settings it asked for, and who started it.
    assert audit["inputs"]["trigger"] == "api"
    assert audit["inputs"]["config"]["test_share"] == 0.3
    assert len(failure_notifications(stack)) == 1
    # The iterations API took the lock before the execution started; the failure freed it.
    assert lock_item() is None
    boto3.client("s3").delete_object(
        Bucket=BUCKET, Key="feedback/model_version=v1/dt=2025-11-23/x.json"
    )
    status, body = stack.api("iterations", "/iterations", "POST", {})
    assert status == 202, body


def test_two_api_starts_in_a_row_the_second_is_refused(lambdas, ag_news_rows, fresh_texts):
    # The API takes the lock before StartExecution: the second request is refused even when the
    # first execution has not reached its Prepare step yet (LocalStack showed that race).
    stack = seeded(lambdas, ag_news_rows)
    put_feedback(BUCKET, fresh_texts[:6])
    status, first = stack.api("iterations", "/iterations", "POST", {})
    assert status == 202, first
    status, body = stack.api("iterations", "/iterations", "POST", {})
    assert status == 409, body
    assert body["execution_arn"] == first["executionArn"]


def test_multi_label_bootstrap_tunes_per_label_thresholds_and_draws_them(lambdas, jigsaw_rows):
    """The first model of a multi-label classifier (Jigsaw, 5 labels) through the whole state
    machine: thresholds tuned per label on the test set travel to the active-model pointer, and
    the evaluation's figures are in the data lake."""
    from PIL import Image

    # `threat` has 4 documents in the whole file: too few for Comprehend's per-label minimum,
    # so it is left out (the data set step would refuse it, as it should).
    labelled = [(text, labels - {"threat"}) for text, labels in jigsaw_rows]
    labelled = [(text, labels) for text, labels in labelled if labels][:600]
    stack = deploy_iteration_stack(lambdas, defaults={"classifier_mode": "MULTI_LABEL"})
    put_seed(BUCKET, [("|".join(sorted(labels)), text) for text, labels in labelled])

    # The Train Lambda's first run in this process imports scikit-learn (3.6 s of CPU); on 2
    # cores shared with other suites (load 17) the iteration took about 125 s, Train 78 s of it,
    # and a 120 s wait failed runs that then succeeded.
    described = stack.wait(stack.start("it-ml", {"config": {"min_new_items": 0}}))
    assert described["status"] == "SUCCEEDED", stack.get_json("audit/iterations/it-ml.json")[
        "failure"
    ]
    output = json.loads(described["output"])
    assert output["iteration"]["mode"] == "MULTI_LABEL"
    assert output["promotion"]["promoted"] is True
    evaluation = stack.get_json(output["evaluation"]["candidate_key"])
    assert evaluation["mode"] == "MULTI_LABEL" and 0 <= evaluation["HammingLoss"] < 1
    tuned = {label: t["value"] for label, t in evaluation["thresholds"].items()}
    assert set(tuned) == set(evaluation["labels"]) and len(tuned) == 5
    pointer = json.loads(
        boto3.client("ssm").get_parameter(Name=f"{PREFIX}/active-model/DOCUMENT_CLASSIFIER")[
            "Parameter"
        ]["Value"]
    )
    assert pointer["mode"] == "MULTI_LABEL"
    assert pointer["thresholds"]["per_label"] == tuned
    assert set(evaluation["figures"]) == {"confusion_matrix", "precision_recall"}
    s3 = boto3.client("s3")
    for key in evaluation["figures"].values():
        assert key.startswith(f"models/{output['training']['model_version']}/")
        obj = s3.get_object(Bucket=BUCKET, Key=key)
        assert obj["ContentType"] == "image/png"
        image = Image.open(io.BytesIO(obj["Body"].read()))
        assert image.format == "PNG" and image.width > 400 and image.height > 300


def test_untrusted_corrections_are_reviewed_and_only_trusted_ones_go_straight_to_the_pool(
    lambdas, ag_news_rows, truth, fresh_texts, ag_news_model
):
    stack = seeded(lambdas, ag_news_rows)
    put_active_model(ag_news_model)
    trusted = put_feedback(BUCKET, fresh_texts[:4], [(truth[t], t) for t in fresh_texts[20:23]])
    trusted = trusted[4:]
    # An untrusted client's corrections, every one of them wrong: a poisoning attempt.
    wrong = {t: "World" if truth[t] != "World" else "Sports" for t in fresh_texts[30:32]}
    untrusted = put_feedback(BUCKET, [], [(wrong[t], t) for t in wrong], trusted=False)

    arn = stack.start("it-trust")
    tasks = stack.wait_for_tasks("it-trust")
    # Before anyone reviews: no pool yet, so nothing of the untrusted corrections is in it.
    assert stack.keys("annotations/") == []
    selection = stack.selection("it-trust")
    paths = {c["id"]: (c["path"], c["trusted"]) for c in selection["selection"]["corrections"]}
    assert paths == {
        **{r.id: ("pool", True) for r in trusted},
        **{r.id: ("review", False) for r in untrusted},
    }
    # Only the trusted corrections are set aside as answers for the merge.
    assert sorted(c["item_id"] for c in selection["corrections"]) == sorted(r.id for r in trusted)
    items = {item["item_id"]: item for task in tasks for item in task["items"]}
    assert set(items) == {r.id for r in untrusted} | {r.id for r in stack_records(fresh_texts[:4])}
    for r in untrusted:
        suggestion = items[r.id]["suggestion"]
        assert suggestion["from"] == "correction"
        assert suggestion["labels"] == [wrong[r.text]]
        assert suggestion["submitted_by"] == "user-1"
        # The active model's view stays beside it (the correction was re-scored too).
        assert len(suggestion["model"]["labels"]) == 1
        assert set(suggestion["scores"]) == {"World", "Sports", "Business", "SciTech"}

    # The reviewer judges the texts, not the suggestions.
    for task in tasks:
        assert stack.answer(task, truth.get)[0] == 200
    described = stack.wait(arn)
    assert described["status"] == "SUCCEEDED", described
    pool = stack.get_json(json.loads(described["output"])["pool"]["pool_key"])
    by_text = {a["text"]: a for a in pool["annotations"]}
    for r in untrusted:
        annotation = by_text[r.text]
        assert annotation["labels"] == [truth[r.text]] != [wrong[r.text]]
        assert [(a["source"], a["reviewer_id"]) for a in annotation["answers"]] == [
            ("review", "rev-1")
        ]
    for r in trusted:
        annotation = by_text[r.text]
        assert [(a["source"], a["reviewer_id"]) for a in annotation["answers"]] == [
            ("explicit-correction", "user-1")
        ]

    audit = stack.get_json("audit/iterations/it-trust.json")
    assert audit["selection"]["correction_paths"] == {
        "pool": 3,
        "review": 2,
        "duplicate": 0,
        "skipped": 0,
        "deferred": 0,
    }
    assert audit["selection"]["corrections_key"] == "reviews/it-trust/selection.json"
    reviewed = {item["item_id"]: item for item in audit["reviewed_items"]}
    for r in trusted:
        assert reviewed[r.id]["source"] == "explicit-correction"
        assert reviewed[r.id]["correction"] == {
            "path": "pool",
            "trusted": True,
            "source": "explicit-batch",
            "submitted_by": "user-1",
            "application_id": None,
        }
    for r in untrusted:
        assert reviewed[r.id]["source"] == "review"
        assert reviewed[r.id]["reviewer_ids"] == ["rev-1"]
        assert reviewed[r.id]["correction"]["path"] == "review"
        assert reviewed[r.id]["correction"]["trusted"] is False
    assert not any("correction" in reviewed[r.id] for r in stack_records(fresh_texts[:4]))
    summary = next(n["Message"] for n in stack.notifications() if "it-trust" in n["Message"])
    assert "Explicit corrections: 3 into the pool (trusted), 2 to review (untrusted)" in summary


def stack_records(texts):
    """The records put_feedback wrote for ``texts`` sent for review (their ids are content
    hashes, so building them again gives the same ids)."""
    from tests.support.iteration_data import record

    return [record(t) for t in texts]


def test_an_approval_after_the_wait_expired_is_refused_and_changes_nothing(
    lambdas, ag_news_rows, truth, fresh_texts
):
    stack = seeded(
        lambdas, ag_news_rows, defaults={"manual_approval": True, "approval_timeout_seconds": 1}
    )
    put_feedback(BUCKET, fresh_texts[:6])
    arn = stack.start("it-late-approval")
    (task,) = stack.wait_for_tasks("it-late-approval")
    stack.answer(task, truth.get)
    described = stack.wait(arn)
    assert described["status"] == "SUCCEEDED", described
    audit = stack.get_json("audit/iterations/it-late-approval.json")
    assert audit["status"] == "REJECTED"

    decision = {"approver": "lead@example.com", "approved": True}
    status, body = stack.api("approvals", "/approvals/it-late-approval", "POST", decision)
    assert status == 409 and body["status"] == "expired", body
    assert "expired" in body["message"]
    assert stack.get_json("reviews/it-late-approval/approval-response.json") is None
    assert stack.get_json("audit/iterations/it-late-approval.json") == audit
    # The execution decides too: a request whose deadline a skewed clock has not reached yet
    # is refused because the execution no longer runs.
    request = stack.get_json("reviews/it-late-approval/approval.json")
    request["deadline"] = "2999-01-01T00:00:00.000Z"
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key="reviews/it-late-approval/approval.json", Body=json.dumps(request)
    )
    status, body = stack.api("approvals", "/approvals/it-late-approval", "POST", decision)
    assert status == 409 and body["status"] == "succeeded", body
    assert stack.get_json("reviews/it-late-approval/approval-response.json") is None


def test_answers_to_an_iteration_that_failed_are_refused_and_stored_nowhere(
    lambdas, ag_news_rows, truth, fresh_texts
):
    """Two review batches on A2I; starting the second human loop fails, so the iteration fails
    while the first batch's task (and token) is still stored. Its answers, from the review API
    or a late A2I completion, are refused and stored nowhere; the callback returns the A2I event
    as late instead of raising it into retries and the dead-letter queue."""
    from botocore.stub import ANY
    from textloop.adapters import clients
    from textloop.domain import reviews

    flow = "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/textloop-review"
    stack = seeded(
        lambdas,
        ag_news_rows,
        extra_env={"REVIEW_BACKEND": "a2i", "A2I_FLOW_DEFINITION_ARN": flow},
    )
    put_feedback(BUCKET, fresh_texts[:12])
    a2i = boto3.client("sagemaker-a2i-runtime")
    stubber = aws_examples.stubber(a2i)
    params = {"HumanLoopName": ANY, "FlowDefinitionArn": flow, "HumanLoopInput": ANY}
    stubber.add_response(
        "start_human_loop",
        aws_examples.response(
            "sagemaker-a2i-runtime/start-human-loop",
            HumanLoopArn="arn:aws:sagemaker:us-east-1:123456789012:human-loop/x",
        ),
        params,
    )
    stubber.add_client_error(
        "start_human_loop", "ValidationException", "flow definition is not active", 400
    )
    with stubber, clients.override("sagemaker-a2i-runtime", a2i):
        arn = stack.start("it-failed")
        described = stack.wait(arn)
    assert described["status"] == "FAILED"
    tasks = stack.wait_for_tasks("it-failed")
    assert len(tasks) == 2

    # Nobody is offered work whose answers would be refused.
    status, listed = stack.api("reviews", "/reviews")
    assert status == 200 and [b["iteration_id"] for b in listed["reviews"]] == []
    status, shown = stack.api("reviews", f"/reviews/{tasks[0]['batch_id']}")
    assert status == 200 and shown["status"] == "failed"
    for task in tasks:
        status, body = stack.answer(task, truth.get)
        assert status == 409, body
        assert body["status"] == "failed" and "it-failed is failed" in body["message"]
        answers_key = f"reviews/it-failed/batches/{task['batch_id']}/answers.json"
        assert stack.get_json(answers_key) is None

    task = tasks[0]
    output_key = f"a2i-output/late/{task['batch_id']}/output.json"
    answers = [{"item_id": i["item_id"], "labels": [truth[i["text"]]]} for i in task["items"]]
    output = aws_examples.a2i_output(
        aws_examples.human_answer(aws_examples.answers_field(answers), worker_id="w1"),
        loop=task["batch_id"],
        flow_definition_arn=flow,
        input_content=json.loads(reviews.a2i_input_content(task)),
    )
    boto3.client("s3").put_object(Bucket=BUCKET, Key=output_key, Body=json.dumps(output))
    late = stack.invoke(
        "a2i_callback",
        aws_examples.a2i_status_change(
            task["batch_id"], flow_definition_arn=flow, output_uri=f"s3://{BUCKET}/{output_key}"
        ),
    )
    assert late["status"] == "failed" and late["late"] is True
    assert stack.get_json(f"reviews/it-failed/batches/{task['batch_id']}/answers.json") is None

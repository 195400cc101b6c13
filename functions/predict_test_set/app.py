"""PredictTestSet and DescribeTestPredictions steps: get the candidate's and the active model's
predictions for every document of this iteration's test set, so Evaluate can score both on the
same documents.

Called without ``test_predictions`` (PredictTestSet), it decides for each model how its
predictions are made and starts what must be started:

* a local model (scikit-learn): ``in_process`` — Evaluate loads the artefact and predicts;
* a Comprehend classifier version (the candidate, or the active model behind its endpoint when
  a data access role is configured): ``batch_job`` — StartDocumentClassificationJob over
  ``datasets/<dataset_version>/test-documents.txt`` (one document per line), output under
  ``models/<model_version>/test-predictions/<dataset_version>/``;
* an active Comprehend endpoint without a data access role (a deployment that went back to the
  local back-end): ``endpoint`` — Evaluate calls ClassifyDocument per document.

Called with ``test_predictions`` (DescribeTestPredictions), it polls the batch jobs still
running and counts the polls, so the state machine's wait loop is bounded by
``test_predictions_max_polls``. Status: COMPLETED when every job is, FAILED when one failed
(Comprehend's message kept in the job), else RUNNING.

The active model is fixed here, with its version and thresholds: Evaluate scores exactly the
models named in ``test_predictions.jobs``, even if someone rolls the pointer back meanwhile.

Environment: DATA_LAKE_BUCKET, ACTIVE_MODEL_PARAMETER_PREFIX; comprehend:
COMPREHEND_DATA_ACCESS_ROLE_ARN.
AWS: s3:GetObject (datasets/*), s3:PutObject (datasets/*), ssm:GetParameter (the pointer);
comprehend: comprehend:StartDocumentClassificationJob, comprehend:DescribeDocumentClassificationJob,
comprehend:DescribeEndpoint (the active endpoint), iam:PassRole on the data access role.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import iteration, step_events
from textloop.adapters.comprehend_predictions import ComprehendTestPredictions
from textloop.adapters.environment import Stack
from textloop.adapters.promotions import current_pointer
from textloop.batch_predictions import combined_status, documents_text
from textloop.datasets import parse_classifier_csv
from textloop.names import MODELS_PREFIX

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(
    optional={"test_predictions": step_events.TEST_PREDICTIONS},
    iteration=step_events.ITERATION,
    dataset=step_events.DATASET,
    training=step_events.TRAINING,
)


def comprehend() -> ComprehendTestPredictions:
    return ComprehendTestPredictions(stack.clients.get("comprehend"))


@tracer.capture_method
def input_uri(it: dict, dataset: dict) -> str:
    """The test documents, one per line, beside the data set (written once per version)."""
    key = iteration.dataset_key(dataset["dataset_version"], "test-documents.txt")
    if not stack.lake.exists(key):
        text = stack.lake.get_text(stack.lake.key_of(dataset["test_uri"]))
        if text is None:
            raise LookupError(f"{dataset['test_uri']} is missing")
        documents = parse_classifier_csv(text, it["mode"], name="test.csv")
        stack.lake.put_text(
            key, documents_text([d["text"] for d in documents]), "text/plain", once=True
        )
    return stack.lake.uri(key)


def start_job(it: dict, dataset: dict, model_version: str, classifier_arn: str) -> dict:
    return comprehend().start(
        classifier_arn=classifier_arn,
        model_version=model_version,
        dataset_version=dataset["dataset_version"],
        input_uri=input_uri(it, dataset),
        output_uri=stack.lake.uri(
            f"{MODELS_PREFIX}{model_version}/test-predictions/{dataset['dataset_version']}/"
        ),
        role_arn=stack.required("COMPREHEND_DATA_ACCESS_ROLE_ARN"),
    )


def candidate_job(it: dict, dataset: dict, training: dict) -> dict:
    job = training["job"]
    if job.get("backend") == "local":
        return {
            "kind": "in_process",
            "backend": "local",
            "model_version": training["model_version"],
            "artefact_uri": job["artefact_uri"],
            "thresholds": None,
            "status": "COMPLETED",
        }
    if job.get("backend") == "comprehend":
        return start_job(it, dataset, training["model_version"], job["classifier_arn"])
    raise iteration.EvaluationUnsupported(f"unknown training back-end {job.get('backend')!r}")


def active_job(it: dict, dataset: dict) -> dict | None:
    pointer = current_pointer(stack.pointer_store(it["model_type"]))
    if pointer is None:
        return None
    thresholds = dict(pointer.thresholds) if pointer.thresholds is not None else None
    if pointer.backend == "local":
        return {
            "kind": "in_process",
            "backend": "local",
            "model_version": pointer.model_version,
            "artefact_uri": pointer.artefact_uri,
            "thresholds": thresholds,
            "status": "COMPLETED",
        }
    if not stack.setting("COMPREHEND_DATA_ACCESS_ROLE_ARN"):
        return {
            "kind": "endpoint",
            "backend": "comprehend",
            "model_version": pointer.model_version,
            "endpoint_arn": pointer.endpoint_arn,
            "thresholds": thresholds,
            "status": "COMPLETED",
        }
    classifier_arn = comprehend().endpoint_model_arn(pointer.endpoint_arn)
    job = start_job(it, dataset, pointer.model_version, classifier_arn)
    return {**job, "endpoint_arn": pointer.endpoint_arn, "thresholds": thresholds}


@tracer.capture_method
def start(it: dict, dataset: dict, training: dict) -> dict[str, Any]:
    return {
        "candidate": candidate_job(it, dataset, training),
        "active": active_job(it, dataset),
    }


@tracer.capture_method
def poll(jobs: dict[str, Any]) -> dict[str, Any]:
    return {
        role: comprehend().describe(job)
        if job is not None and job["kind"] == "batch_job" and job["status"] != "COMPLETED"
        else job
        for role, job in jobs.items()
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "predict_test_set")
    it, dataset, training = event["iteration"], event["dataset"], event["training"]
    logger.set_correlation_id(it["execution_arn"])
    previous = event.get("test_predictions")
    if previous is None:
        jobs, polls = start(it, dataset, training), 0
        metrics.add_metric(
            name="TestPredictionJobsStarted",
            unit=MetricUnit.Count,
            value=sum(1 for j in jobs.values() if j and j["kind"] == "batch_job"),
        )
    else:
        jobs, polls = poll(previous["jobs"]), int(previous["polls"]) + 1
    result = {"status": combined_status(jobs), "polls": polls, "jobs": jobs}
    logger.info(
        "test predictions",
        extra={
            "status": result["status"],
            "polls": polls,
            "jobs": {
                role: {k: job.get(k) for k in ("kind", "model_version", "job_id", "status")}
                for role, job in jobs.items()
                if job is not None
            },
        },
    )
    return result

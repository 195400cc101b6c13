"""PredictTestSet: arrange the candidate's and the active model's predictions for every document
of this iteration's test set, so Evaluate can score both on the same documents.

For each model it decides how its predictions are made, and starts what must be started:

* a local model (scikit-learn classifier or CRF entity recogniser; the artefact's metadata
  says which): ``in_process``: Evaluate loads the artefact and predicts;
* a Comprehend classifier version (the candidate, or the active model behind its endpoint when
  a data access role is configured): ``batch_job``: StartDocumentClassificationJob over the
  data set's ``test-documents.txt`` (one document per line), output under
  ``layout.test_predictions_prefix``; DescribeTestPredictions polls it;
* a Comprehend entity recogniser version: ``batch_job`` too, StartEntitiesDetectionJob over the
  data set's test documents file itself (already one document per line, the file the
  annotations' offsets refer to);
* an active Comprehend endpoint without a data access role (a deployment that went back to the
  local back-end): ``endpoint``: Evaluate calls ClassifyDocument (DetectEntities) per document.

The active model is fixed here, with its version and thresholds: Evaluate scores exactly the
models named in ``test_predictions.jobs``, even if someone rolls the pointer back meanwhile.

Environment: DATA_LAKE_BUCKET, ACTIVE_MODEL_PARAMETER_PREFIX, STACK_NAME; comprehend:
COMPREHEND_DATA_ACCESS_ROLE_ARN, COMPREHEND_LANGUAGE_CODE (entity jobs; default en).
AWS: s3:GetObject (datasets/*), s3:PutObject (datasets/*), ssm:GetParameter (the pointer);
comprehend: comprehend:StartDocumentClassificationJob or comprehend:StartEntitiesDetectionJob
with comprehend:TagResource (jobs are started with the stack's tags), comprehend:DescribeEndpoint
(the active endpoint), iam:PassRole on the data access role.
"""

from __future__ import annotations

from typing import Any

from textloop.adapters.comprehend_predictions import ComprehendTestPredictions
from textloop.adapters.comprehend_training import model_arn
from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.datasets.formats import parse_classifier_csv
from textloop.domain.errors import EvaluationUnsupported
from textloop.domain.iteration import Iteration
from textloop.domain.names import ModelType
from textloop.domain.test_predictions import documents_text, jobs_summary, progress
from textloop.steps.payloads import DATASET, ITERATION, TRAINING, step_schema

EVENT = step_schema(iteration=ITERATION, dataset=DATASET, training=TRAINING)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    it, dataset, training = (
        Iteration.from_dict(event["iteration"]),
        event["dataset"],
        event["training"],
    )
    jobs = {
        "candidate": candidate_job(ctx, it, dataset, training),
        "active": active_job(ctx, it, dataset),
    }
    ctx.count(
        "TestPredictionJobsStarted",
        sum(1 for j in jobs.values() if j and j["kind"] == "batch_job"),
    )
    result = progress(jobs, polls=0)
    ctx.logger.info(
        "test predictions",
        extra={"status": result["status"], "polls": 0, "jobs": jobs_summary(jobs)},
    )
    return result


def candidate_job(
    ctx: Stack, it: Iteration, dataset: dict[str, Any], training: dict[str, Any]
) -> dict[str, Any]:
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
        return start_job(ctx, it, dataset, training["model_version"], model_arn(job))
    raise EvaluationUnsupported(f"unknown training back-end {job.get('backend')!r}")


def active_job(ctx: Stack, it: Iteration, dataset: dict[str, Any]) -> dict[str, Any] | None:
    pointer = ctx.pointer_store(it.model_type).current()
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
    if not ctx.setting("COMPREHEND_DATA_ACCESS_ROLE_ARN"):
        return {
            "kind": "endpoint",
            "backend": "comprehend",
            "model_type": it.model_type,
            "model_version": pointer.model_version,
            "endpoint_arn": pointer.endpoint_arn,
            "thresholds": thresholds,
            "status": "COMPLETED",
        }
    served = _comprehend(ctx).endpoint_model_arn(pointer.endpoint_arn)
    job = start_job(ctx, it, dataset, pointer.model_version, served)
    return {**job, "endpoint_arn": pointer.endpoint_arn, "thresholds": thresholds}


def start_job(
    ctx: Stack, it: Iteration, dataset: dict[str, Any], model_version: str, arn: str
) -> dict[str, Any]:
    """The batch job of the Comprehend model version ``arn`` over the test documents."""
    entity = it.model_type == ModelType.ENTITY_RECOGNIZER
    return _comprehend(ctx).start(
        model_arn=arn,
        model_type=it.model_type,
        model_version=model_version,
        dataset_version=dataset["dataset_version"],
        input_uri=entity_input_uri(ctx, dataset) if entity else input_uri(ctx, it, dataset),
        output_uri=ctx.lake.uri(
            layout.test_predictions_prefix(model_version, dataset["dataset_version"])
        ),
        role_arn=ctx.required("COMPREHEND_DATA_ACCESS_ROLE_ARN"),
        language_code=ctx.setting("COMPREHEND_LANGUAGE_CODE", "en") or "en",
        tags=ctx.resource_tags(it.model_type),
    )


def entity_input_uri(ctx: Stack, dataset: dict[str, Any]) -> str:
    """The entity data set's test documents file, as its manifest names it."""
    manifest = ctx.lake.get_json(dataset["manifest_key"])
    name = ((manifest or {}).get("test") or {}).get("file")
    if not name:
        raise LookupError(f"{dataset['manifest_key']} names no test documents file")
    return ctx.lake.uri(layout.dataset_key(dataset["dataset_version"], name))


def input_uri(ctx: Stack, it: Iteration, dataset: dict[str, Any]) -> str:
    """The test documents, one per line, beside the data set (written once per version)."""
    key = layout.dataset_key(dataset["dataset_version"], "test-documents.txt")
    if not ctx.lake.exists(key):
        text = ctx.lake.get_text(ctx.lake.key_of(dataset["test_uri"]))
        if text is None:
            raise LookupError(f"{dataset['test_uri']} is missing")
        documents = parse_classifier_csv(text, it.mode, name="test.csv")
        ctx.lake.put_text(
            key, documents_text([d["text"] for d in documents]), "text/plain", once=True
        )
    return ctx.lake.uri(key)


def _comprehend(ctx: Stack) -> ComprehendTestPredictions:
    return ComprehendTestPredictions(ctx.clients.get("comprehend"))

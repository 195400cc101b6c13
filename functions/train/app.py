"""Train step: start training the candidate through the configured model back-end.

* ``model_backend=local``: scikit-learn in this Lambda (``backends.local.fit``) on the data
  set's train.csv; artefacts to ``models/<model_version>/`` (``ModelArtefactStore``); status
  TRAINED at once. A retried step finds the stored version and does not train again.
* ``model_backend=comprehend``: CreateDocumentClassifier (VersionName = the model version,
  COMPREHEND_CSV with the data set's train.csv and test.csv); status SUBMITTED, then the
  DescribeTraining step polls.

The model version is derived from the iteration and the data set, so a retry names the same one.

Environment: DATA_LAKE_BUCKET; comprehend: COMPREHEND_DATA_ACCESS_ROLE_ARN,
COMPREHEND_CLASSIFIER_NAME (default textloop-document-classifier), COMPREHEND_LANGUAGE_CODE
(default en).
AWS: local: s3:GetObject (datasets/*, models/*), s3:PutObject (models/*). comprehend:
comprehend:CreateDocumentClassifier, comprehend:ListDocumentClassifiers, iam:PassRole on
COMPREHEND_DATA_ACCESS_ROLE_ARN (condition iam:PassedToService comprehend.amazonaws.com).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import iteration, step_events
from textloop.adapters.comprehend_training import ComprehendTraining
from textloop.adapters.environment import Stack
from textloop.annotations import parse_timestamp
from textloop.datasets import parse_classifier_csv
from textloop.names import MODELS_PREFIX, Mode

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(iteration=step_events.ITERATION, dataset=step_events.DATASET)


@tracer.capture_method
def train_local(it: dict, dataset: dict, model_version: str) -> dict:
    store = stack.artefacts
    uri = store.artefact_uri(model_version)
    if stack.lake.exists(f"{MODELS_PREFIX}{model_version}/metadata.json"):
        logger.info("model version already trained", extra={"model_version": model_version})
        metadata = store.get_metadata(model_version)
    else:
        from textloop.backends import local

        text = stack.lake.get_text(stack.lake.key_of(dataset["train_uri"]))
        if text is None:
            raise LookupError(f"{dataset['train_uri']} is missing")
        documents = parse_classifier_csv(text, it["mode"], name="train.csv")
        labels = [
            d["labels"][0] if it["mode"] == Mode.MULTI_CLASS else d["labels"] for d in documents
        ]
        model = local.fit(
            [d["text"] for d in documents],
            labels,
            it["mode"],
            model_version=model_version,
            # The iteration's start, not the wall clock: a retry then writes identical bytes.
            now=parse_timestamp(it["started_at"]),
        )
        model.metadata["dataset_version"] = dataset["dataset_version"]
        model.metadata["iteration_id"] = it["iteration_id"]
        uri = store.put(model_version, local.save(model), model.metadata)
        metadata = model.metadata
    return {
        "model_version": model_version,
        "status": "TRAINED",
        "polls": 0,
        "job": {"backend": "local", "artefact_uri": uri, "n_documents": metadata["n_documents"]},
    }


@tracer.capture_method
def train_comprehend(it: dict, dataset: dict, model_version: str) -> dict:
    job = ComprehendTraining(stack.clients.get("comprehend")).start(
        classifier_name=stack.setting("COMPREHEND_CLASSIFIER_NAME", "textloop-document-classifier"),
        model_version=model_version,
        mode=it["mode"],
        train_uri=dataset["train_uri"],
        test_uri=dataset["test_uri"],
        output_uri=stack.lake.uri(f"{MODELS_PREFIX}{model_version}/comprehend-output/"),
        role_arn=stack.required("COMPREHEND_DATA_ACCESS_ROLE_ARN"),
        language_code=stack.setting("COMPREHEND_LANGUAGE_CODE", "en"),
    )
    return {"model_version": model_version, "status": "SUBMITTED", "polls": 0, "job": job}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "train")
    it, dataset = event["iteration"], event["dataset"]
    logger.set_correlation_id(it["execution_arn"])
    model_version = iteration.model_version_for(it["iteration_id"], dataset["dataset_version"])
    backend = it["config"]["model_backend"]
    if backend == "local":
        result = train_local(it, dataset, model_version)
    elif backend == "comprehend":
        result = train_comprehend(it, dataset, model_version)
    else:
        raise ValueError(f"unknown model_backend {backend!r}")
    metrics.add_metric(name="TrainingStarted", unit=MetricUnit.Count, value=1)
    logger.info("training started", extra=result)
    return result

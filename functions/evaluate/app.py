"""Evaluate step: the candidate AND the active model on the same, current test set, then the gate.

Every document of this iteration's test.csv is predicted by both models, the way
PredictTestSet arranged in ``test_predictions.jobs``: a local model here, in process; a
Comprehend classifier version from its batch job's ``output.tar.gz``; an active Comprehend
endpoint without a batch job by ClassifyDocument. ``evaluation.evaluate`` scores them and
``promotion.decide`` applies the configured gate (``promotion_metric``,
``promotion_min_improvement``, ``per_label_tolerance``, ``promotion_min_absolute``). Stored: the
candidate's evaluation at ``models/<model_version>/evaluation.json``, the active model's on this
test set and the decision beside the iteration's audit record
(``audit/iterations/<iteration_id>/active-evaluation.json``, ``.../decision.json``). Each
evaluation names how its predictions were made (``predictions``: kind, job id) and its figures
(``figures``): ``confusion-matrix.png`` and, multi-label, ``precision-recall.png`` with the
chosen thresholds, beside it (``models/<model_version>/``; ``.../active-*.png`` for the active
model).

Environment: DATA_LAKE_BUCKET.
AWS: s3:GetObject (datasets/*, models/*), s3:PutObject (models/*, audit/*),
comprehend:ClassifyDocument (only for an active Comprehend endpoint without a batch job).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import batch_predictions, figures, iteration, step_events
from textloop.adapters.environment import Stack
from textloop.datasets import parse_classifier_csv
from textloop.evaluation import evaluate
from textloop.names import MODELS_PREFIX, ModelType
from textloop.promotion import GateConfig, decide

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(
    iteration=step_events.ITERATION,
    dataset=step_events.DATASET,
    training=step_events.TRAINING,
    test_predictions=step_events.TEST_PREDICTIONS,
)


def gate_config(config: dict[str, Any]) -> GateConfig:
    return GateConfig(
        metric=config["promotion_metric"],
        min_improvement=config["promotion_min_improvement"],
        per_label_tolerance=config["per_label_tolerance"],
        min_absolute=config["promotion_min_absolute"],
    )


@tracer.capture_method
def predictions_of(job: dict, texts: list[str], mode: str) -> tuple[list[Any], Any]:
    """``(predictions, starting thresholds)`` of one model for the test documents."""
    if job["kind"] == "in_process":
        from textloop.backends.local import LocalBackend

        backend = LocalBackend(stack.artefacts.load_local_model(job["artefact_uri"]))
        if backend.model_version != job["model_version"]:
            raise LookupError(
                f"{job['artefact_uri']} holds {backend.model_version}, not {job['model_version']}"
            )
        return backend.predict(texts), job.get("thresholds") or backend.thresholds
    if job["kind"] == "batch_job":
        archive = stack.lake.get_bytes(stack.lake.key_of(job["output_uri"]))
        if archive is None:
            raise LookupError(f"{job['output_uri']} is missing")
        predictions = batch_predictions.parse_output(
            batch_predictions.prediction_lines(archive),
            n_documents=len(texts),
            mode=mode,
            model_version=job["model_version"],
        )
        return predictions, job.get("thresholds")
    from textloop.backends import comprehend

    backend = comprehend.ComprehendBackend(
        stack.clients.get_configured("comprehend", comprehend.client_config()),
        endpoint_arn=job["endpoint_arn"],
        model_type=ModelType.DOCUMENT_CLASSIFIER.value,
        mode=mode,
        model_version=job["model_version"],
    )
    return backend.predict(texts), job.get("thresholds")


def evaluate_job(job: dict, documents: list[dict], mode: str, dataset: dict) -> dict:
    predictions, thresholds = predictions_of(job, [d["text"] for d in documents], mode)
    result = evaluate(
        [d["labels"] for d in documents],
        predictions,
        mode=mode,
        thresholds=thresholds,
        test_set_hash=dataset["test_set_hash"],
        model_version=job["model_version"],
    )
    result["dataset_version"] = dataset["dataset_version"]
    result["predictions"] = {
        k: job[k] for k in ("kind", "backend", "job_id", "job_arn", "output_uri") if job.get(k)
    }
    return result


@tracer.capture_method
def put_figures(result: dict, prefix: str, role: str, dataset: dict) -> dict[str, str]:
    """The confusion matrix (and, multi-label, the precision-recall curves with the chosen
    thresholds) as PNGs beside the evaluation; their keys go into it."""
    title = f"{role} {result['model_version']} · test set {dataset['dataset_version']}"
    keys = {"confusion_matrix": f"{prefix}confusion-matrix.png"}
    stack.lake.put_bytes(
        keys["confusion_matrix"], figures.confusion_matrix_png(result, title=title), "image/png"
    )
    if result.get("precision_recall_curves"):
        keys["precision_recall"] = f"{prefix}precision-recall.png"
        stack.lake.put_bytes(
            keys["precision_recall"], figures.precision_recall_png(result, title=title), "image/png"
        )
    return keys


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "evaluate")
    it, dataset, training = event["iteration"], event["dataset"], event["training"]
    jobs = event["test_predictions"]["jobs"]
    logger.set_correlation_id(it["execution_arn"])
    if event["test_predictions"]["status"] != "COMPLETED":
        raise ValueError(f"test predictions are {event['test_predictions']['status']}")
    if jobs["candidate"]["model_version"] != training["model_version"]:
        raise ValueError("test_predictions.jobs.candidate is not this iteration's candidate")

    text = stack.lake.get_text(stack.lake.key_of(dataset["test_uri"]))
    if text is None:
        raise LookupError(f"{dataset['test_uri']} is missing")
    documents = parse_classifier_csv(text, it["mode"], name="test.csv")
    candidate = evaluate_job(jobs["candidate"], documents, it["mode"], dataset)
    candidate_key = iteration.evaluation_key(training["model_version"])
    candidate["figures"] = put_figures(
        candidate, f"{MODELS_PREFIX}{training['model_version']}/", "candidate", dataset
    )
    stack.lake.put_json(candidate_key, candidate)

    active, active_key = None, None
    if jobs["active"] is not None:
        active = evaluate_job(jobs["active"], documents, it["mode"], dataset)
        active_key = iteration.iteration_artefact_key(it["iteration_id"], "active-evaluation.json")
        active["figures"] = put_figures(
            active,
            iteration.iteration_artefact_key(it["iteration_id"], "active-"),
            "active",
            dataset,
        )
        stack.lake.put_json(active_key, active)

    decision = decide(candidate, active, gate_config(it["config"]))
    stack.lake.put_json(
        iteration.iteration_artefact_key(it["iteration_id"], "decision.json"), decision
    )
    metrics.add_metric(name="CandidatePromotable", unit=MetricUnit.Count, value=decision["promote"])
    logger.info("candidate evaluated", extra={"decision": decision["reason"]})
    return {"candidate_key": candidate_key, "active_key": active_key, "decision": decision}

"""Evaluate step: the candidate AND the active model on the same, current test set, then the gate.

Both models predict every document of this iteration's test.csv; ``evaluation.evaluate`` scores
them and ``promotion.decide`` applies the configured gate (``promotion_metric``,
``promotion_min_improvement``, ``per_label_tolerance``, ``promotion_min_absolute``). Stored:
the candidate's evaluation at ``models/<model_version>/evaluation.json``, the active model's on
this test set and the decision beside the iteration's audit record
(``audit/iterations/<iteration_id>/active-evaluation.json``, ``.../decision.json``).

A candidate trained by Comprehend has no endpoint yet, so nothing here can make it predict the
test documents; its own evaluation metrics cover its training split, not the frozen test set the
active model is judged on. The step fails with ``Textloop.EvaluationUnsupported`` rather than
compare numbers from different test sets.

Environment: DATA_LAKE_BUCKET, ACTIVE_MODEL_PARAMETER_PREFIX.
AWS: s3:GetObject (datasets/*, models/*), s3:PutObject (models/*, audit/*),
ssm:GetParameter (active-model pointer), comprehend:ClassifyDocument (only when the active model
is a Comprehend endpoint).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import iteration, step_events
from textloop.adapters.environment import Stack
from textloop.datasets import parse_classifier_csv
from textloop.evaluation import evaluate
from textloop.promotion import GateConfig, decide

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(
    iteration=step_events.ITERATION,
    dataset=step_events.DATASET,
    training=step_events.TRAINING,
)


def gate_config(config: dict[str, Any]) -> GateConfig:
    return GateConfig(
        metric=config["promotion_metric"],
        min_improvement=config["promotion_min_improvement"],
        per_label_tolerance=config["per_label_tolerance"],
        min_absolute=config["promotion_min_absolute"],
    )


@tracer.capture_method
def evaluate_backend(backend: Any, documents: list[dict], mode: str, test_set_hash: str) -> dict:
    predictions = backend.predict([d["text"] for d in documents])
    return evaluate(
        [d["labels"] for d in documents],
        predictions,
        mode=mode,
        thresholds=getattr(backend, "thresholds", None),
        test_set_hash=test_set_hash,
        model_version=backend.model_version,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "evaluate")
    it, dataset, training = event["iteration"], event["dataset"], event["training"]
    logger.set_correlation_id(it["execution_arn"])
    job = training["job"]
    if job.get("backend") != "local":
        raise iteration.EvaluationUnsupported(
            f"candidate {training['model_version']} was trained by {job.get('backend')}: "
            "evaluating it on the frozen test set needs its predictions for every test "
            "document (an endpoint or a batch classification job over test.csv), which this "
            "step does not run; Comprehend's own metrics cover a different split and cannot be "
            "compared with the active model's."
        )
    from textloop.backends.local import LocalBackend

    text = stack.lake.get_text(stack.lake.key_of(dataset["test_uri"]))
    if text is None:
        raise LookupError(f"{dataset['test_uri']} is missing")
    documents = parse_classifier_csv(text, it["mode"], name="test.csv")
    candidate_backend = LocalBackend(stack.artefacts.load_local_model(job["artefact_uri"]))
    candidate = evaluate_backend(candidate_backend, documents, it["mode"], dataset["test_set_hash"])
    candidate["dataset_version"] = dataset["dataset_version"]
    candidate_key = iteration.evaluation_key(training["model_version"])
    stack.lake.put_json(candidate_key, candidate)

    active, active_key = None, None
    pointer, active_backend = stack.active_model(it["model_type"])
    if pointer is not None:
        active = evaluate_backend(active_backend, documents, it["mode"], dataset["test_set_hash"])
        active["dataset_version"] = dataset["dataset_version"]
        active_key = iteration.iteration_artefact_key(it["iteration_id"], "active-evaluation.json")
        stack.lake.put_json(active_key, active)

    decision = decide(candidate, active, gate_config(it["config"]))
    stack.lake.put_json(
        iteration.iteration_artefact_key(it["iteration_id"], "decision.json"), decision
    )
    metrics.add_metric(name="CandidatePromotable", unit=MetricUnit.Count, value=decision["promote"])
    logger.info("candidate evaluated", extra={"decision": decision["reason"]})
    return {"candidate_key": candidate_key, "active_key": active_key, "decision": decision}

"""Evaluate: the candidate AND the active model on the same, current test set, then the gate.

Every document of this iteration's test.csv is predicted by both models, the way PredictTestSet
arranged in ``test_predictions.jobs``: a local model here, in process; a Comprehend classifier
version from its batch job's ``output.tar.gz``; an active Comprehend endpoint without a batch
job by ClassifyDocument. ``evaluation.evaluate`` scores them and ``promotion.decide`` applies
the configured gate (``promotion_metric``, ``promotion_min_improvement``,
``per_label_tolerance``, ``promotion_min_absolute``). Stored: the candidate's evaluation at
``layout.evaluation_key``, the active model's on this test set and the decision beside the
iteration's audit record (``layout.iteration_document_key``: ``active-evaluation.json``,
``decision.json``). Each evaluation names how its predictions were made (``predictions``: kind,
job id) and its figures (``figures``): ``confusion-matrix.png`` and, multi-label,
``precision-recall.png`` with the chosen thresholds, beside it (``active-*.png`` for the active
model).

Entity recognisers: test.txt + test-annotations.csv, both models' spans scored by
``evaluation.evaluate_entities`` (exact span and type, per type and micro; scikit-learn's
counting over paired span sets, see its docstring), the gate as above with
``per_label_tolerance`` applied per entity type (default metric MicroF1Score), and one figure,
``entity-f1.png`` (per-type F1, candidate beside active), beside the candidate's evaluation.

A ``tfidf+embeddings`` model predicts with the encoder its metadata names (read from the lake,
``adapters.encoder_store``) and the test texts' embeddings from the embedding cache
(``adapters.embedding_cache``; texts it lacks are embedded and added).

Environment: DATA_LAKE_BUCKET.
AWS: s3:GetObject (datasets/*, models/*: the encoder and the embedding cache included),
s3:ListBucket (the embedding cache), s3:PutObject (models/*, audit/*),
comprehend:ClassifyDocument (only for an active Comprehend endpoint without a batch job).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textloop.adapters.embedding_cache import EmbeddingCache
from textloop.adapters.stack import Stack
from textloop.domain import figures, layout, test_predictions
from textloop.domain.datasets.formats import parse_classifier_csv, read_entity_part
from textloop.domain.evaluation import evaluate, evaluate_entities
from textloop.domain.iteration import Iteration
from textloop.domain.names import ModelType
from textloop.domain.predictions import Prediction, span_tuple
from textloop.domain.promotion import decide
from textloop.steps.payloads import DATASET, ITERATION, TEST_PREDICTIONS, TRAINING, step_schema

EVENT = step_schema(
    iteration=ITERATION,
    dataset=DATASET,
    training=TRAINING,
    test_predictions=TEST_PREDICTIONS,
)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    it, dataset, training = (
        Iteration.from_dict(event["iteration"]),
        event["dataset"],
        event["training"],
    )
    jobs = event["test_predictions"]["jobs"]
    if event["test_predictions"]["status"] != "COMPLETED":
        raise ValueError(f"test predictions are {event['test_predictions']['status']}")
    if jobs["candidate"]["model_version"] != training["model_version"]:
        raise ValueError("test_predictions.jobs.candidate is not this iteration's candidate")

    if it.model_type == ModelType.ENTITY_RECOGNIZER:
        return evaluate_entity_recognisers(ctx, it, dataset, training, jobs)
    text = ctx.lake.get_text(ctx.lake.key_of(dataset["test_uri"]))
    if text is None:
        raise LookupError(f"{dataset['test_uri']} is missing")
    documents = parse_classifier_csv(text, it.mode, name="test.csv")
    candidate = evaluate_job(ctx, jobs["candidate"], documents, it.mode, dataset)
    candidate_key = layout.evaluation_key(training["model_version"])
    candidate["figures"] = put_figures(
        ctx,
        candidate,
        lambda name: layout.model_key(training["model_version"], name),
        "candidate",
        dataset,
    )
    ctx.lake.put_json(candidate_key, candidate)

    active, active_key = None, None
    if jobs["active"] is not None:
        active = evaluate_job(ctx, jobs["active"], documents, it.mode, dataset)
        active_key = layout.iteration_document_key(it.iteration_id, "active-evaluation.json")
        active["figures"] = put_figures(
            ctx,
            active,
            lambda name: layout.iteration_document_key(it.iteration_id, f"active-{name}"),
            "active",
            dataset,
        )
        ctx.lake.put_json(active_key, active)

    return gate(ctx, it, candidate, candidate_key, active, active_key)


def gate(
    ctx: Stack,
    it: Iteration,
    candidate: dict[str, Any],
    candidate_key: str,
    active: dict[str, Any] | None,
    active_key: str | None,
) -> dict[str, Any]:
    decision = decide(candidate, active, it.gate)
    ctx.lake.put_json(layout.iteration_document_key(it.iteration_id, "decision.json"), decision)
    ctx.count("CandidatePromotable", decision["promote"])
    ctx.logger.info("candidate evaluated", extra={"decision": decision["reason"]})
    return {"candidate_key": candidate_key, "active_key": active_key, "decision": decision}


def evaluate_entity_recognisers(
    ctx: Stack,
    it: Iteration,
    dataset: dict[str, Any],
    training: dict[str, Any],
    jobs: dict[str, Any],
) -> dict[str, Any]:
    """Entity recognisers: both models' spans on the frozen test documents, scored by
    ``evaluate_entities`` (exact span and type, per type and micro), one per-type F1 figure
    (candidate beside active) stored beside the candidate's evaluation and named in both."""
    documents = read_entity_part(ctx.lake.get_text, dataset["dataset_version"], "test")
    types = sorted({span_tuple(s)[2] for d in documents for s in d["entities"]})
    evaluations: dict[str, dict[str, Any]] = {}
    for role, job in jobs.items():
        if job is None:
            continue
        predictions, _ = predictions_of(ctx, job, [d["text"] for d in documents], None)
        result = evaluate_entities(
            [d["entities"] for d in documents],
            [p.entities for p in predictions],
            types=types,
            test_set_hash=dataset["test_set_hash"],
            model_version=job["model_version"],
        )
        result["dataset_version"] = dataset["dataset_version"]
        result["predictions"] = {
            k: job[k] for k in ("kind", "backend", "job_id", "job_arn", "output_uri") if job.get(k)
        }
        evaluations[role] = result
    candidate, active = evaluations["candidate"], evaluations.get("active")
    figure_key = layout.model_key(training["model_version"], "entity-f1.png")
    title = f"candidate {candidate['model_version']} · test set {dataset['dataset_version']}"
    ctx.lake.put_bytes(
        figure_key, figures.entity_f1_png(candidate, active, title=title), "image/png"
    )
    candidate_key = layout.evaluation_key(training["model_version"])
    candidate["figures"] = {"entity_f1": figure_key}
    ctx.lake.put_json(candidate_key, candidate)
    active_key = None
    if active is not None:
        active_key = layout.iteration_document_key(it.iteration_id, "active-evaluation.json")
        active["figures"] = {"entity_f1": figure_key}
        ctx.lake.put_json(active_key, active)
    return gate(ctx, it, candidate, candidate_key, active, active_key)


def evaluate_job(
    ctx: Stack, job: dict[str, Any], documents: list[dict[str, Any]], mode: str, dataset: dict
) -> dict[str, Any]:
    predictions, thresholds = predictions_of(ctx, job, [d["text"] for d in documents], mode)
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


def predictions_of(
    ctx: Stack, job: dict[str, Any], texts: list[str], mode: str | None
) -> tuple[list[Prediction], Any]:
    """``(predictions, starting thresholds)`` of one model for the test documents."""
    if job["kind"] == "in_process":
        backend = ctx.artefacts.load_local_backend(job["artefact_uri"])
        if backend.model_version != job["model_version"]:
            raise LookupError(
                f"{job['artefact_uri']} holds {backend.model_version}, not {job['model_version']}"
            )
        encoder = getattr(backend, "encoder", None)
        if encoder is not None:
            # The frozen test set is mostly the last iteration's: its embeddings come from the
            # cache (and the second model of the same encoder finds this one's).
            embeddings, cache = EmbeddingCache(ctx.lake, encoder).embeddings(
                texts, segment=f"test-{job['model_version']}"
            )
            ctx.logger.info("test set embeddings", extra={"embedding_cache": cache})
            predictions = backend.predict(texts, embeddings=embeddings)
            return predictions, job.get("thresholds") or backend.thresholds
        return backend.predict(texts), job.get("thresholds") or backend.thresholds
    entity = job.get("model_type") == ModelType.ENTITY_RECOGNIZER
    if job["kind"] == "batch_job":
        archive = ctx.lake.get_bytes(ctx.lake.key_of(job["output_uri"]))
        if archive is None:
            raise LookupError(f"{job['output_uri']} is missing")
        if entity:
            return test_predictions.parse_entity_output(
                test_predictions.output_lines(archive),
                texts=texts,
                model_version=job["model_version"],
            ), job.get("thresholds")
        predictions = test_predictions.parse_output(
            test_predictions.prediction_lines(archive),
            n_documents=len(texts),
            mode=mode,
            model_version=job["model_version"],
        )
        return predictions, job.get("thresholds")
    from textloop.adapters.comprehend_endpoint import ComprehendBackend

    backend = ComprehendBackend(
        ctx.comprehend,
        endpoint_arn=job["endpoint_arn"],
        model_type=job.get("model_type", ModelType.DOCUMENT_CLASSIFIER.value),
        mode=None if entity else mode,
        model_version=job["model_version"],
    )
    return backend.predict(texts), job.get("thresholds")


def put_figures(
    ctx: Stack,
    result: dict[str, Any],
    key_of: Callable[[str], str],
    role: str,
    dataset: dict[str, Any],
) -> dict[str, str]:
    """The confusion matrix (and, multi-label, the precision-recall curves with the chosen
    thresholds) as PNGs beside the evaluation (``key_of(file name)``); their keys go into it."""
    title = f"{role} {result['model_version']} · test set {dataset['dataset_version']}"
    keys = {"confusion_matrix": key_of("confusion-matrix.png")}
    ctx.lake.put_bytes(
        keys["confusion_matrix"], figures.confusion_matrix_png(result, title=title), "image/png"
    )
    if result.get("precision_recall_curves"):
        keys["precision_recall"] = key_of("precision-recall.png")
        ctx.lake.put_bytes(
            keys["precision_recall"], figures.precision_recall_png(result, title=title), "image/png"
        )
    return keys

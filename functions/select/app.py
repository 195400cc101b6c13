"""Select step: choose the items people review in this iteration and write the review batches.

Candidates are the feedback records no person has answered yet (``iteration.unsettled_records``).
They are re-scored with the active model (the recorded scores may come from an older model),
then ``selection.select_for_review`` orders them by uncertainty, removes near-duplicates, keeps
a random share (halving every ``random_share_half_life`` labels, counting the seed data and the
annotation pool) and caps at the budget; ``selection.review_batches`` splits them into batches.
Explicit corrections skip review: their answers are stored with the selection for the merge.

Everything goes to ``reviews/<iteration_id>/selection.json``; the state machine receives only the
batch ids and sizes (Step Functions payloads are limited to 256 KiB; the texts are not).

Environment: DATA_LAKE_BUCKET, ACTIVE_MODEL_PARAMETER_PREFIX.
AWS: s3:ListBucket, s3:GetObject (feedback/*, annotations/*, datasets/seed/*, models/*),
s3:PutObject (reviews/*), ssm:GetParameter (active-model pointer),
comprehend:ClassifyDocument (only when the active model is a Comprehend endpoint).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import iteration, reviews, step_events
from textloop.adapters.environment import Stack
from textloop.annotations import answer_from_feedback
from textloop.backends.base import BackendError
from textloop.datasets import parse_classifier_csv
from textloop.selection import SelectionConfig, review_batches, select_for_review

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(iteration=step_events.ITERATION)


@tracer.capture_method
def rescored(records: list[dict[str, Any]], backend: Any) -> list[dict[str, Any]]:
    """Records with the active model's prediction of their text (corrections are left alone)."""
    todo = [r for r in records if r.get("corrected_labels") is None and r.get("text")]
    if backend is None or not todo:
        return records
    predictions = backend.predict([r["text"] for r in todo])
    fresh = {
        r["id"]: {
            **r,
            "prediction": p.prediction_dict(routed_to_review=True),
            "model_version": p.model_version,
            "mode": p.mode,
        }
        for r, p in zip(todo, predictions, strict=True)
    }
    return [fresh.get(r["id"], r) for r in records]


def seed_documents(model_type: str, mode: str) -> list[dict[str, Any]]:
    """The imported seed data (``datasets/seed/<model_type>/train.csv``), parsed; [] without."""
    seed = stack.lake.get_text(iteration.seed_key(model_type))
    return parse_classifier_csv(seed, mode, name="seed train.csv") if seed else []


def label_options(
    model_type: str, mode: str, pool: Any, active: Any, seed: list[dict[str, Any]] | None = None
) -> list[str]:
    """The labels a reviewer may choose: every label of the seed data, the pool and the model."""
    labels: set[str] = set()
    for document in seed_documents(model_type, mode) if seed is None else seed:
        labels.update(document["labels"])
    if pool is not None:
        labels.update(lb for a in pool.annotations for lb in a.labels)
    if active is not None:
        labels.update(getattr(getattr(active, "model", None), "labels", []) or [])
    return sorted(lb for lb in labels if lb)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "select")
    it = event["iteration"]
    logger.set_correlation_id(it["execution_arn"])
    iteration_id, model_type, mode, config = (
        it["iteration_id"],
        it["model_type"],
        it["mode"],
        it["config"],
    )
    pool = stack.pools.current(model_type)
    records = iteration.unsettled_records(stack.lake.feedback_records(), model_type, pool)
    pointer, backend = stack.active_model(model_type)
    try:
        records = rescored([dict(r) for r in records], backend)
    except BackendError:
        # The recorded scores still order the candidates; a review should not wait on an
        # endpoint outage.
        logger.exception("re-scoring with the active model failed; using the recorded scores")
    _, pool_keys = iteration.settled(pool)
    seed = seed_documents(model_type, mode)
    # The labels the loop has: what the next model trains on (seed data and pool, once each).
    labelled = len(pool_keys | {d["key"] for d in seed})
    selection = select_for_review(
        records,
        SelectionConfig(
            budget=config["review_budget"],
            random_share=config["random_share"],
            # Absent from configurations written before the setting existed: constant share.
            random_share_half_life=config.get("random_share_half_life"),
            seed=iteration_id,
            strategy=config["selection_strategy"],
            near_duplicate_similarity=config["near_duplicate_similarity"],
            mode=mode,
        ),
        annotated_keys=pool_keys,
        labelled=labelled,
    )
    by_id = {r["id"]: r for r in records}
    corrections = []
    for record_id in selection.direct_to_pool:
        answer = answer_from_feedback(by_id[record_id])
        corrections.append({**answer.to_dict(), "text": answer.text})
    batches = review_batches(selection, config["review_batch_size"], iteration_id)
    key = reviews.selection_key(iteration_id)
    stack.lake.put_json(
        key,
        {
            "iteration_id": iteration_id,
            "model_type": model_type,
            "mode": mode,
            "active_model_version": pointer.model_version if pointer else None,
            "options": label_options(model_type, mode, pool, backend, seed),
            "selection": selection.to_dict(),
            "corrections": corrections,
            "batches": batches,
        },
    )
    counts = {**selection.counts(), "batches": len(batches), "corrections": len(corrections)}
    metrics.add_metric(name="SelectedForReview", unit=MetricUnit.Count, value=counts["selected"])
    logger.info("selected for review", extra={"counts": counts})
    return {
        "selection_key": key,
        "batches": [
            {"batch_id": b["batch_id"], "index": b["index"], "items": len(b["items"])}
            for b in batches
        ],
        "counts": counts,
    }

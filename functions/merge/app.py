"""MergeAnswers step: this iteration's answers into a new version of the annotation pool.

Answers are the review answers of every batch the Map reports ``answered`` plus the explicit
corrections the select step set aside. ``annotations.merge_answers`` applies the merge rule
(majority per text, then latest); a version is stored once under its content hash and becomes
``annotations/current/<model_type>.json``. The step's result is stored too
(``reviews/<iteration_id>/merge.json``): a retried step returns it unchanged instead of merging
onto the pool it just published.

Environment: DATA_LAKE_BUCKET.
AWS: s3:GetObject (reviews/*, annotations/*), s3:PutObject (annotations/*, reviews/*).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import reviews, step_events
from textloop.adapters.environment import Stack
from textloop.annotations import merge_answers
from textloop.names import REVIEWS_PREFIX

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(
    iteration=step_events.ITERATION,
    selection=step_events.SELECTION,
    reviews={"type": "object", "required": ["batches"]},
)


def iteration_answers(iteration_id: str, batch_results: list[dict[str, Any]]) -> list[dict]:
    """This iteration's answers: corrections from the selection, then every answered batch."""
    selection = stack.lake.get_json(reviews.selection_key(iteration_id)) or {}
    answers = list(selection.get("corrections", []))
    for result in batch_results:
        if result.get("status") != "answered":
            continue
        document = stack.reviews.answers(iteration_id, result["batch_id"])
        if document is None:
            raise LookupError(f"batch {result['batch_id']} reported answered but has no answers")
        answers += document["answers"]
    return answers


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "merge")
    it = event["iteration"]
    logger.set_correlation_id(it["execution_arn"])
    result_key = f"{REVIEWS_PREFIX}{it['iteration_id']}/merge.json"
    done = stack.lake.get_json(result_key)
    if done is not None:
        return done
    answers = iteration_answers(it["iteration_id"], event["reviews"]["batches"])
    previous = stack.pools.current(it["model_type"])
    if not answers and previous is None:
        result: dict[str, Any] = {"pool_version": None, "pool_key": None, "changes": {}}
    else:
        pool = merge_answers(previous, answers, model_type=it["model_type"])
        changed = previous is None or pool.pool_version != previous.pool_version
        published = stack.pools.publish(pool, iteration_id=it["iteration_id"])
        changes = Counter(c["change"] for c in pool.changes) if changed else Counter()
        result = {**published, "changes": dict(changes)}
    result["answers"] = len(answers)
    result["reviewers"] = sorted({a["reviewer_id"] for a in answers})
    result["previous_pool_version"] = previous.pool_version if previous else None
    stack.lake.put_json(result_key, result, once=True)
    metrics.add_metric(name="AnswersMerged", unit=MetricUnit.Count, value=len(answers))
    logger.info("answers merged", extra=result)
    return result

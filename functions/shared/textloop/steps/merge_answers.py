"""MergeAnswers: this iteration's answers into a new version of the annotation pool.

Answers are the review answers of every batch the Map reports ``answered`` plus the explicit
corrections SelectForReview set aside. ``annotations.merge_answers`` applies the merge rule
(classifiers: majority per text, then latest; entity recognisers: majority per span, a tie to
the latest answer); a version is stored once under its content hash and becomes
the model type's current pool. The answers the merge added are written once more, on their own,
to the iteration's file of the lake's ``annotations`` table (``layout.annotations_added_key``),
before the pool is published: a retry after publishing merges nothing new and the file is
already there. The step's result is stored too (``layout.merge_result_key``): a
retried step returns it unchanged instead of merging onto the pool it just published.

Environment: DATA_LAKE_BUCKET.
AWS: s3:GetObject (reviews/*, annotations/*), s3:PutObject (annotations/*, reviews/*).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.annotations import added_answers, merge_answers
from textloop.domain.iteration import Iteration
from textloop.steps.payloads import ITERATION, SELECTION, step_schema

EVENT = step_schema(
    iteration=ITERATION,
    selection=SELECTION,
    reviews={"type": "object", "required": ["batches"]},
)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    it = Iteration.from_dict(event["iteration"])
    result_key = layout.merge_result_key(it.iteration_id)
    done = ctx.lake.get_json(result_key)
    if done is not None:
        return done
    answers = ctx.reviews.iteration_answers(it.iteration_id, event["reviews"]["batches"])
    previous = ctx.pools.current(it.model_type)
    if not answers and previous is None:
        result: dict[str, Any] = {"pool_version": None, "pool_key": None, "changes": {}}
    else:
        pool = merge_answers(previous, answers, model_type=it.model_type)
        changed = previous is None or pool.pool_version != previous.pool_version
        added = added_answers(previous, pool, iteration_id=it.iteration_id) if changed else []
        if added:
            ctx.lake.put_json_lines(
                layout.annotations_added_key(it.model_type, it.started_at[:10], it.iteration_id),
                added,
                once=True,
            )
        published = ctx.pools.publish(pool, iteration_id=it.iteration_id)
        changes = Counter(c["change"] for c in pool.changes) if changed else Counter()
        result = {**published, "changes": dict(changes)}
    result["answers"] = len(answers)
    result["reviewers"] = sorted({a["reviewer_id"] for a in answers})
    result["previous_pool_version"] = previous.pool_version if previous else None
    ctx.lake.put_json(result_key, result, once=True)
    ctx.count("AnswersMerged", len(answers))
    ctx.logger.info("answers merged", extra=result)
    return result

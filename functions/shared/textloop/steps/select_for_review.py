"""SelectForReview: choose the items people review in this iteration and write the review
batches.

Candidates are the new feedback Prepare counted: the records it stored for the iteration
(``layout.new_feedback_key``) and the feedback files its proposal (``layout.intake_key``) names,
read again conditional on their ETags and streamed, each line parsed once; a count that differs
from Prepare's fails the step. They are pre-ranked as they stream by the confidence stored at
classification time (``selection.PrerankStream``: bounded heaps; a full record is built only for
the few kept),
and only the top ``rescore_factor x review_budget`` of them, with a sample for the random share,
are re-scored with the active model (the recorded scores may come from an older model): the
local back-end in process, a Comprehend model through its endpoint (there is no batch job on
this path; the pre-ranking bounds the calls by the budget, not the feedback). Then
``selection.select_for_review`` orders them by uncertainty, removes near-duplicates, keeps a
random share (halving every ``random_share_half_life`` labels, counting the seed data and the
annotation pool) and caps at the budget; ``selection.review_batches`` splits them into batches.
Explicit corrections from trusted applications skip review: their answers are stored with the
selection for the merge. Untrusted corrections are candidates like the rest, re-scored too, and
shown to the reviewer with the correction as the suggestion; the selection lists the path every
correction took (``selection.corrections``, counted in ``correction_paths``), which the audit
record reports.

Everything goes to ``layout.selection_key``; the state machine receives only the batch ids and
sizes (Step Functions payloads are limited to 256 KiB; the texts are not).

Environment: DATA_LAKE_BUCKET, ACTIVE_MODEL_PARAMETER_PREFIX.
AWS: s3:GetObject (feedback/*, reviews/*, annotations/*, datasets/seed/*, models/*), s3:PutObject
(reviews/*), ssm:GetParameter (active-model pointer), comprehend:ClassifyDocument (only when the
active model is a Comprehend endpoint).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.annotations import PoolVersion, answer_from_feedback
from textloop.domain.backends import BackendError, ModelBackend
from textloop.domain.datasets import seed as seed_data
from textloop.domain.feedback import FeedbackRecord
from textloop.domain.intake import iteration_rows
from textloop.domain.iteration import Iteration, settled, unsettled_rows
from textloop.domain.selection import PrerankStream, review_batches, select_for_review
from textloop.steps.payloads import ITERATION, step_schema

EVENT = step_schema(iteration=ITERATION)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    it = Iteration.from_dict(event["iteration"])
    pool = ctx.pools.current(it.model_type)
    pointer, backend = ctx.active_model(it.model_type)
    _, pool_keys = settled(pool)
    seed = seed_documents(ctx, it.model_type, it.mode)
    # The labels the loop has: what the next model trains on (seed data and pool, once each).
    labelled = len(pool_keys | {d["key"] for d in seed})
    ranked = PrerankStream(
        it.selection,
        factor=it.config.rescore_factor,
        annotated_keys=pool_keys,
        labelled=labelled,
    )
    counted = 0
    for row in new_feedback(ctx, it, pool):
        counted += 1
        ranked.add(row)
    expected = (it.new_items or {}).get("count")
    if expected is not None and counted != expected:
        raise RuntimeError(
            f"iteration {it.iteration_id}: Prepare counted {expected} new feedback record(s), "
            f"Select read {counted}"
        )
    ranked = ranked.result()
    records = ranked.records
    try:
        records = rescored(records, backend)
    except BackendError:
        # The recorded scores still order the candidates; a review should not wait on an
        # endpoint outage.
        ctx.logger.exception("re-scoring with the active model failed; using the recorded scores")
    selection = select_for_review(
        records,
        it.selection,
        annotated_keys=pool_keys,
        labelled=labelled,
        random_from=ranked.random_from,
    )
    by_id = {r.id: r for r in records}
    corrections = []
    for record_id in selection.direct_to_pool:
        answer = answer_from_feedback(by_id[record_id])
        corrections.append({**answer.to_dict(), "text": answer.text})
    batches = review_batches(selection, it.config.review_batch_size, it.iteration_id)
    key = layout.selection_key(it.iteration_id)
    ctx.lake.put_json(
        key,
        {
            "iteration_id": it.iteration_id,
            "model_type": it.model_type,
            "mode": it.mode,
            "active_model_version": pointer.model_version if pointer else None,
            "options": label_options(pool, backend, seed),
            "selection": {**selection.to_dict(), "prerank": ranked.counts()},
            "corrections": corrections,
            "batches": batches,
        },
    )
    counts = {
        **selection.counts(),
        "batches": len(batches),
        "corrections": len(corrections),
        "corrections_in_review": selection.correction_paths()["review"],
        **ranked.counts(),
    }
    ctx.count("SelectedForReview", counts["selected"])
    ctx.logger.info("selected for review", extra={"counts": counts})
    return {
        "selection_key": key,
        "batches": [
            {"batch_id": b["batch_id"], "index": b["index"], "items": len(b["items"])}
            for b in batches
        ],
        "counts": counts,
    }


def new_feedback(
    ctx: Stack, it: Iteration, pool: PoolVersion | None
) -> Iterator[Mapping[str, Any]]:
    """The records Prepare counted, streamed (``intake.iteration_rows``): what it stored, then
    the files its proposal names, unsettled against the pool version Prepare counted with."""
    stored = ctx.lake.get_bytes(layout.new_feedback_key(it.iteration_id))
    if stored is None:
        raise LookupError(f"Prepare stored no new feedback for iteration {it.iteration_id}")
    # An iteration prepared before the files were named stored every record: no files then.
    proposal = ctx.lake.get_json(layout.intake_key(it.iteration_id)) or {}
    version = proposal.get("pool_version")
    counted_with = pool
    if (pool.pool_version if pool else None) != version:
        counted_with = ctx.pools.get(version) if version else None
    rows = iteration_rows(
        stored,
        ctx.lake.feedback_file_rows(proposal.get("files") or []),
        where=layout.new_feedback_key(it.iteration_id),
    )
    return unsettled_rows(rows, it.model_type, counted_with)


def rescored(records: list[FeedbackRecord], backend: ModelBackend | None) -> list[FeedbackRecord]:
    """Records with the active model's prediction of their text (trusted corrections, which
    skip review, are left alone)."""
    todo = [r for r in records if not r.skips_review and r.text]
    if backend is None or not todo:
        return records
    predictions = backend.predict([r.text for r in todo])
    fresh = {r.id: r.with_prediction(p) for r, p in zip(todo, predictions, strict=True)}
    return [fresh.get(r.id, r) for r in records]


def seed_documents(ctx: Stack, model_type: str, mode: str | None) -> list[dict[str, Any]]:
    """The imported seed data (``layout.seed_keys``), parsed; [] without."""
    return seed_data.seed_documents(model_type, mode, ctx.lake.get_text)


def label_options(
    pool: PoolVersion | None, backend: ModelBackend | None, seed: list[dict[str, Any]]
) -> list[str]:
    """The labels a reviewer may choose (entity types for an entity recogniser): every label of
    the seed data, the pool and the model."""
    labels: set[str] = set(seed_data.seed_labels(seed))
    if pool is not None:
        labels.update(lb for a in pool.annotations for lb in a.labels)
        labels.update(span[2] for a in pool.annotations for span in a.entities)
    if backend is not None:
        model = getattr(backend, "model", None)
        for name in ("labels", "entity_types"):
            labels.update(getattr(model, name, None) or [])
    return sorted(lb for lb in labels if lb)

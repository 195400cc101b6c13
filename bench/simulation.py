"""One simulated run of the active-learning loop, driving textloop's own code.

Per iteration, as the state machine does it:

1. Score the unlabelled pool with the current model (``LocalBackend.predict``) and turn each
   prediction into an implicit-feedback-shaped record, as SelectForReview's ``rescored`` does.
2. ``selection.select_for_review`` with the loop's settings (margin, 0.9 near-duplicate cut,
   ``random_share`` and its half-life), the texts already labelled passed as
   ``annotated_keys`` and their number as ``labelled``.
3. A simulated reviewer answers every selected item with its true label.
4. ``backends.local.fit`` on every label so far; ``evaluation.evaluate`` on the fixed test set.

``kind`` is the ``local_model`` setting (``tfidf`` unless a run names another). The
``tfidf+embeddings`` kind embeds with the real encoder (``make setup`` builds it) through an
in-memory table by text hash, as the Train step reads the lake's embedding cache: every pool and
test text is embedded once per process (``bench.local_models`` embeds them all up front and
hands the workers the table), not once per retrain.

The random baseline replaces steps 1-2 by a uniform draw of the same size; everything else
(initial seed set, schedule, model, evaluation) is identical, so each seed is a paired
comparison.
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from textloop.domain import local_model
from textloop.domain.evaluation import evaluate
from textloop.domain.feedback import FeedbackRecord
from textloop.domain.hashing import text_key
from textloop.domain.names import LocalModelKind, Mode, ModelType
from textloop.domain.selection import SelectionConfig, select_for_review
from textloop.domain.timestamps import format_timestamp

from bench.data import Task

# A fixed training timestamp: model versions and metadata do not depend on the wall clock.
TRAINED_AT = datetime(2024, 1, 1, tzinfo=UTC)
# The loop's selection defaults (iteration.DEFAULTS; label_efficiency checks they agree).
STRATEGY = "margin"
NEAR_DUPLICATE_SIMILARITY = 0.9
RANDOM_SHARE = 0.2
RANDOM_SHARE_HALF_LIFE = 250
LOOP_DEFAULTS = {
    "selection_strategy": STRATEGY,
    "near_duplicate_similarity": NEAR_DUPLICATE_SIMILARITY,
    "random_share": RANDOM_SHARE,
    "random_share_half_life": RANDOM_SHARE_HALF_LIFE,
}


@dataclass(frozen=True)
class Strategy:
    name: str
    # None: uniform random picks (the baseline); else select_for_review with this random share.
    random_share: float | None
    # The random share's half-life in labels (None: constant share).
    random_share_half_life: float | None = None
    near_duplicate_similarity: float | None = NEAR_DUPLICATE_SIMILARITY

    @property
    def is_random(self) -> bool:
        return self.random_share is None


LOOP = Strategy(
    f"loop (margin, random_share {RANDOM_SHARE} halving every {RANDOM_SHARE_HALF_LIFE} labels)",
    RANDOM_SHARE,
    RANDOM_SHARE_HALF_LIFE,
)
UNCERTAINTY = Strategy("uncertainty only (margin, random_share 0)", 0.0)
RANDOM = Strategy("random", None)
STRATEGIES = {"loop": LOOP, "uncertainty": UNCERTAINTY, "random": RANDOM}


@dataclass(frozen=True)
class Schedule:
    """Labels after the seed set: ``seed_size``, then ``budgets`` one per iteration."""

    seed_size: int
    budgets: tuple[int, ...]

    @classmethod
    def stepped(cls, seed_size: int, steps: Sequence[tuple[int, int]]) -> Schedule:
        """``steps``: (budget, up to this many labels) pairs, in order."""
        budgets: list[int] = []
        total = seed_size
        for budget, upto in steps:
            while total + budget <= upto:
                budgets.append(budget)
                total += budget
        return cls(seed_size, tuple(budgets))

    @property
    def max_labels(self) -> int:
        return self.seed_size + sum(self.budgets)

    def describe(self) -> str:
        parts, total, i = [f"seed set {self.seed_size}"], self.seed_size, 0
        while i < len(self.budgets):
            j = i
            while j < len(self.budgets) and self.budgets[j] == self.budgets[i]:
                j += 1
            total += self.budgets[i] * (j - i)
            parts.append(f"{j - i} x {self.budgets[i]} (to {total})")
            i = j
        return ", then ".join(parts)


def _metrics(task: Task, model: local_model.LocalModel) -> dict[str, float]:
    predictions = local_model.LocalBackend(model).predict(list(task.test_texts))
    truth = task.true_label_lists()
    if task.mode == Mode.MULTI_CLASS:
        result = evaluate(truth, predictions, mode=task.mode, labels=task.labels)
        return {"accuracy": result["Accuracy"], "macro_f1": result["F1Score"]}
    # The model's own thresholds (fit's default 0.5 per label) are what it would serve with.
    fixed = evaluate(
        truth,
        predictions,
        mode=task.mode,
        labels=task.labels,
        thresholds=model.metadata["thresholds"],
        tune_thresholds=False,
    )
    # evaluate's per-label tuning on the test set (what promotion uses): optimistic, see report.
    tuned = evaluate(truth, predictions, mode=task.mode, labels=task.labels)
    return {
        "micro_f1": fixed["MicroF1Score"],
        "macro_f1": fixed["F1Score"],
        "micro_f1_tuned": tuned["MicroF1Score"],
    }


TFIDF = LocalModelKind.TFIDF.value


class CachedEncoder:
    """The real sentence encoder behind a table of the embeddings it already computed (by the
    sha256 of the text), like the Train step's embedding cache: a retrain embeds nothing twice."""

    def __init__(self, encoder: Any, table: Any):
        self.encoder, self.table = encoder, table
        self.name, self.sha256, self.dimension = encoder.name, encoder.sha256, encoder.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        digests, missing = self.table.missing(texts)
        if missing:
            self.table.add(digests, self.encoder.encode(missing))
        return self.table.matrix(texts)


@functools.cache
def encoder() -> CachedEncoder:
    """This process's encoder: the artefact ``make setup`` built, over the embeddings table
    ``bench.local_models`` saved (``EMBEDDINGS_FILE``) when there is one."""
    import os
    from pathlib import Path

    from textloop.domain.embedding_cache import EmbeddingTable, read_segment
    from textloop.domain.sentence_encoder import SentenceEncoder

    from textloop_ops.encoder import built_artefact

    real = SentenceEncoder.from_artefact(built_artefact().read_bytes())
    table = EmbeddingTable(real.dimension)
    saved = os.environ.get(EMBEDDINGS_FILE)
    if saved and Path(saved).is_file():
        digests, vectors = read_segment(Path(saved).read_bytes())
        table.add(digests, vectors)
    return CachedEncoder(real, table)


# Environment variable naming a segment file (``embedding_cache.segment_bytes``) of
# precomputed embeddings: spawned workers inherit the environment, not the parent's memory.
EMBEDDINGS_FILE = "TEXTLOOP_BENCH_EMBEDDINGS"


def _fit(
    task: Task, indices: Sequence[int], version: str, kind: str = TFIDF
) -> local_model.LocalModel:
    texts = [task.pool_texts[i] for i in indices]
    labels = [task.pool_labels[i] for i in indices]
    return local_model.fit(
        texts,
        labels,
        task.mode,
        model_version=version,
        now=TRAINED_AT,
        kind=kind,
        encoder=None if kind == TFIDF else encoder(),
    )


def initial_seed_set(task: Task, size: int, seed: int) -> list[int]:
    """The labelled seed set: stratified for multi-class; uniform for multi-label (with ~10 %
    toxic comments a uniform draw is what a team starting out would have), redrawn in the
    unlikely case it holds no label at all (``fit`` cannot train on that)."""
    rng = np.random.default_rng([seed, 0])
    n = len(task.pool_texts)
    if task.mode == Mode.MULTI_CLASS:
        from sklearn.model_selection import train_test_split

        chosen, _ = train_test_split(
            list(range(n)),
            train_size=size,
            stratify=list(task.pool_labels),
            random_state=int(rng.integers(2**31)),
        )
        return sorted(int(i) for i in chosen)
    while True:
        chosen = sorted(int(i) for i in rng.choice(n, size=size, replace=False))
        if any(task.pool_labels[i] for i in chosen):
            return chosen


def _records(
    task: Task, model: local_model.LocalModel, candidates: Sequence[int]
) -> list[FeedbackRecord]:
    """Implicit feedback records of the candidates, scored by the current model."""
    backend = local_model.LocalBackend(model)
    predictions = backend.predict([task.pool_texts[i] for i in candidates])
    thresholds = backend.thresholds
    stamp = format_timestamp(TRAINED_AT)
    return [
        FeedbackRecord.from_dict(
            {
                "id": f"pool-{i:06d}",
                "text": task.pool_texts[i],
                "source": "implicit",
                "reason": "below_threshold",
                "created_at": stamp,
                "observed_at": stamp,
                "model_type": ModelType.DOCUMENT_CLASSIFIER.value,
                "model_version": p.model_version,
                "mode": p.mode,
                "prediction": p.prediction_dict(routed_to_review=True),
                "thresholds": thresholds,
            }
        )
        for i, p in zip(candidates, predictions, strict=True)
    ]


def run(
    task: Task, strategy: Strategy, seed: int, schedule: Schedule, kind: str = TFIDF
) -> dict[str, Any]:
    """One learning curve: metrics after the seed set and after every iteration."""
    started, cpu_started = time.perf_counter(), time.process_time()
    labelled = initial_seed_set(task, schedule.seed_size, seed)
    pool_keys = [text_key(t) for t in task.pool_texts]
    keys = {pool_keys[i] for i in labelled}
    # The random baseline's own stream: independent of the seed-set stream (index 0).
    rng = np.random.default_rng([seed, 1])
    model = _fit(task, labelled, f"bench-{seed}-0", kind)
    points = [{"labels": len(labelled), **_metrics(task, model), "positives": 0}]
    counts = {"uncertain": 0, "random": 0, "duplicates": 0, "skipped": 0}
    for iteration, budget in enumerate(schedule.budgets, start=1):
        taken = set(labelled)
        # Texts equal to a labelled one are settled in the loop (iteration.unsettled_records):
        # nobody is asked twice about the same text, in either strategy.
        candidates = [
            i for i in range(len(task.pool_texts)) if i not in taken and pool_keys[i] not in keys
        ]
        if not candidates:
            break
        if strategy.is_random:
            picks = [candidates[j] for j in rng.permutation(len(candidates))[:budget]]
        else:
            selection = select_for_review(
                _records(task, model, candidates),
                SelectionConfig(
                    budget=budget,
                    random_share=strategy.random_share,
                    random_share_half_life=strategy.random_share_half_life,
                    # SelectForReview seeds with the iteration id; one per run and iteration.
                    seed=f"bench-{task.name}-{seed}-{iteration}",
                    strategy=STRATEGY,
                    near_duplicate_similarity=strategy.near_duplicate_similarity,
                    mode=task.mode,
                ),
                annotated_keys=keys,
                labelled=len(labelled),
            )
            picks = [int(item_id.removeprefix("pool-")) for item_id in selection.item_ids]
            for name, value in selection.counts().items():
                if name in counts:
                    counts[name] += value
        # The simulated reviewer: the true label of every pick (pool_labels, read in _fit).
        labelled += picks
        keys.update(pool_keys[i] for i in picks)
        model = _fit(task, labelled, f"bench-{seed}-{iteration}", kind)
        points.append({"labels": len(labelled), **_metrics(task, model)})
    for point_labels, point in _positives(task, labelled, points):
        point["positives"] = point_labels
    return {
        "task": task.name,
        "strategy": strategy.name,
        "kind": kind,
        "seed": seed,
        "points": points,
        "selection_counts": counts,
        # Wall time depends on what else runs on the machine; CPU time is the comparable cost.
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
    }


def _positives(task: Task, labelled: Sequence[int], points: Sequence[dict]):
    """Per point, labelled documents carrying any label (multi-label: toxic ones found so
    far; multi-class: every document). ``labelled`` is in labelling order, so a prefix is the
    labelled set at that point."""
    for point in points:
        prefix = labelled[: point["labels"]]
        yield sum(1 for i in prefix if task.pool_labels[i]), point


def full_pool(task: Task, kind: str = TFIDF) -> dict[str, Any]:
    """The reference: one model trained on every pool label (deterministic: no seed)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    model = _fit(task, range(len(task.pool_texts)), "bench-full-pool", kind)
    trained, cpu_trained = time.perf_counter(), time.process_time()
    return {
        "labels": len(task.pool_texts),
        "kind": kind,
        **_metrics(task, model),
        # Training alone (embeddings from the table when the caller computed them up front).
        "train_seconds": trained - started,
        "train_cpu_seconds": cpu_trained - cpu_started,
        "artefact_bytes": len(local_model.save(model)),
        "metadata": {k: model.metadata.get(k) for k in ("local_model", "embedding_weight")},
        "seconds": time.perf_counter() - started,
    }


@functools.cache
def _task(name: str) -> Task:
    from bench.data import TASKS

    return TASKS[name]()


def run_job(
    task_name: str, strategy_key: str, seed: int, schedule: Schedule, kind: str = TFIDF
) -> dict[str, Any]:
    """Picklable entry point for worker processes: each loads (and caches) its own data."""
    return run(_task(task_name), STRATEGIES[strategy_key], seed, schedule, kind)


def full_pool_job(task_name: str, kind: str = TFIDF) -> dict[str, Any]:
    return {"task": task_name, **full_pool(_task(task_name), kind)}


def execute(
    runs: Callable[..., dict],
    run_args: list[tuple],
    fulls: Callable[..., dict],
    full_args: list[tuple],
    workers: int,
) -> tuple[list[dict], list[dict]]:
    """``runs(*a)`` for each of ``run_args`` and ``fulls(*a)`` for each of ``full_args``, in
    that order, in worker processes (spawned: no state inherited from the caller)."""
    if workers <= 1:
        return [runs(*a) for a in run_args], [fulls(*a) for a in full_args]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        run_futures = [pool.submit(runs, *a) for a in run_args]
        full_futures = [pool.submit(fulls, *a) for a in full_args]
        return [f.result() for f in run_futures], [f.result() for f in full_futures]

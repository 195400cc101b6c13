"""The benchmarks' loop simulation runs textloop's own selection and training: a change to
their signatures must break a test here, not `make bench` hours later."""

from __future__ import annotations

import dataclasses

import pytest

from bench.data import TASKS
from bench.simulation import LOOP, RANDOM, Schedule, full_pool, run


@pytest.fixture(scope="module")
def small_ag_news():
    task = TASKS["ag_news"]()
    return dataclasses.replace(
        task,
        pool_texts=task.pool_texts[:300],
        pool_labels=task.pool_labels[:300],
        test_texts=task.test_texts[:80],
        test_labels=task.test_labels[:80],
    )


@pytest.mark.parametrize("kind", ["tfidf", "tfidf+embeddings"])
def test_loop_and_random_runs_label_what_the_schedule_says(small_ag_news, kind):
    schedule = Schedule.stepped(40, [(30, 100)])
    loop = run(small_ag_news, LOOP, 0, schedule, kind)
    randomly = run(small_ag_news, RANDOM, 0, schedule, kind)
    for result in (loop, randomly):
        assert result["kind"] == kind
        assert [p["labels"] for p in result["points"]] == [40, 70, 100]
        assert all(0.25 < p["accuracy"] <= 1.0 for p in result["points"])
    # Selection picked every item of both iterations, some by uncertainty, some at random.
    counts = loop["selection_counts"]
    assert counts["uncertain"] + counts["random"] == 60
    assert counts["uncertain"] > counts["random"] > 0
    # Paired by seed: the same seed set, so the same first point.
    assert loop["points"][0] == randomly["points"][0]


def test_full_pool_reports_training_cost_and_artefact(small_ag_news):
    result = full_pool(small_ag_news, "tfidf+embeddings")
    assert result["labels"] == 300
    assert result["metadata"]["local_model"] == "tfidf+embeddings"
    assert result["artefact_bytes"] > 0
    assert result["train_cpu_seconds"] > 0

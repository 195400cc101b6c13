"""DescribeTestPredictions: one poll of the test-set prediction jobs PredictTestSet started.

Polls the batch jobs still running and counts the polls, so the state machine's wait loop is
bounded by ``test_predictions_max_polls``. Status: COMPLETED when every job is, FAILED when one
failed (Comprehend's message kept in the job), else RUNNING.

Environment: none beyond the defaults.
AWS: comprehend:DescribeDocumentClassificationJob (classifiers) or
comprehend:DescribeEntitiesDetectionJob (entity recognisers).
"""

from __future__ import annotations

from typing import Any

from textloop.adapters.comprehend_predictions import ComprehendTestPredictions
from textloop.adapters.stack import Stack
from textloop.domain.test_predictions import jobs_summary, progress
from textloop.steps.payloads import DATASET, ITERATION, TEST_PREDICTIONS, TRAINING, step_schema

EVENT = step_schema(
    iteration=ITERATION,
    dataset=DATASET,
    training=TRAINING,
    test_predictions=TEST_PREDICTIONS,
)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    previous = event["test_predictions"]
    jobs = ComprehendTestPredictions(ctx.clients.get("comprehend")).poll(previous["jobs"])
    result = progress(jobs, polls=int(previous["polls"]) + 1)
    ctx.logger.info(
        "test predictions",
        extra={"status": result["status"], "polls": result["polls"], "jobs": jobs_summary(jobs)},
    )
    return result

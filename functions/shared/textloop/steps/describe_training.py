"""DescribeTraining: one poll of the candidate's training job (counts the polls so the state
machine's loop is bounded by ``training_max_polls``).

Status: TRAINED (TRAINED_WITH_WARNING included; the warning is kept in ``job.message``),
IN_ERROR or STOPPED (with Comprehend's ``Message``), else the running status as Comprehend says
it. A local job is already TRAINED when it gets here.

Environment: none beyond the defaults.
AWS: comprehend:DescribeDocumentClassifier (classifier versions) or
comprehend:DescribeEntityRecognizer (recogniser versions).
"""

from __future__ import annotations

from typing import Any

from textloop.adapters.comprehend_training import describe_job
from textloop.adapters.stack import Stack
from textloop.steps.payloads import ITERATION, TRAINING, step_schema

EVENT = step_schema(iteration=ITERATION, training=TRAINING)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    training = event["training"]
    job = dict(training["job"])
    status = training["status"]
    if job.get("backend") == "comprehend":
        described = describe_job(ctx.clients.get("comprehend"), job)
        status = described.pop("status")
        job.update(described)
    result = {
        "model_version": training["model_version"],
        "status": status,
        "polls": int(training["polls"]) + 1,
        "job": job,
    }
    ctx.logger.info("training polled", extra=result)
    return result

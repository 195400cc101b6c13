"""DescribeTraining: one poll of the candidate's training job (counts the polls so the state
machine's loop is bounded by ``training_max_polls``).

Status: TRAINED (TRAINED_WITH_WARNING included; the warning is kept in ``job.message``),
IN_ERROR or STOPPED (with Comprehend's ``Message``), else the running status as Comprehend says
it. A local job is already TRAINED when it gets here. A flywheel job
(``job.training == "flywheel"``) is taken on by ``ComprehendFlywheel.advance``: the data sets
once the flywheel is ACTIVE, StartFlywheelIteration once they are COMPLETED, then the
iteration's status; once COMPLETED the trained version's ARN is the job's ``classifier_arn`` or
``recognizer_arn``, and the flywheel's own metrics are in ``job.flywheel_metrics``.

Environment: STACK_NAME (the tags of a data set created here).
AWS: comprehend:DescribeDocumentClassifier (classifier versions) or
comprehend:DescribeEntityRecognizer (recogniser versions); flywheel: comprehend:DescribeFlywheel,
comprehend:CreateDataset, comprehend:DescribeDataset, comprehend:StartFlywheelIteration,
comprehend:DescribeFlywheelIteration, comprehend:TagResource (data sets, the trained version).
"""

from __future__ import annotations

from typing import Any

from textloop.adapters.comprehend_flywheel import ComprehendFlywheel
from textloop.adapters.comprehend_training import describe_job
from textloop.adapters.stack import Stack
from textloop.steps.payloads import ITERATION, TRAINING, step_schema

EVENT = step_schema(iteration=ITERATION, training=TRAINING)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    training = event["training"]
    job = dict(training["job"])
    status = training["status"]
    if job.get("training") == "flywheel":
        flywheel = ComprehendFlywheel(ctx.clients.get("comprehend"))
        status, job = flywheel.advance(job, ctx.resource_tags(job["model_type"]))
    elif job.get("backend") == "comprehend":
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

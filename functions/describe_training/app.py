"""DescribeTraining step: one poll of the candidate's training job (counts the polls so the
state machine's loop is bounded by ``training_max_polls``).

Status: TRAINED (TRAINED_WITH_WARNINGS included; the warning is kept in ``job.message``),
IN_ERROR or STOPPED (with Comprehend's ``Message``), else the running status as Comprehend says
it. A local job is already TRAINED when it gets here.

Environment: none beyond the defaults.
AWS: comprehend:DescribeDocumentClassifier (the iteration's classifier versions).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import step_events
from textloop.adapters.comprehend_training import ComprehendTraining
from textloop.adapters.environment import Stack

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(
    iteration=step_events.ITERATION, training=step_events.TRAINING
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "describe_training")
    training = event["training"]
    logger.set_correlation_id(event["iteration"]["execution_arn"])
    job = dict(training["job"])
    status = training["status"]
    if job.get("backend") == "comprehend":
        described = ComprehendTraining(stack.clients.get("comprehend")).describe(
            job["classifier_arn"]
        )
        status = described.pop("status")
        job.update(described)
    result = {
        "model_version": training["model_version"],
        "status": status,
        "polls": int(training["polls"]) + 1,
        "job": job,
    }
    logger.info("training polled", extra=result)
    return result

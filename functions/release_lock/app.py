"""ReleaseLock steps: free the per-model lock, only if this execution holds it.

Environment: REGISTRY_TABLE.
AWS: dynamodb:DeleteItem (registry table; conditional on the holder).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import step_events
from textloop.adapters.environment import Stack

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(iteration=step_events.ITERATION)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "release_lock")
    it = event["iteration"]
    logger.set_correlation_id(it["execution_arn"])
    released = stack.registry.release(it["model_type"], holder=it["execution_arn"])
    if not released:
        logger.warning("lock not held by this execution; nothing released")
    return {"released": released}

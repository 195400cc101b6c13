"""ReleaseLock, ReleaseLockAfterNoOp, ReleaseLockAfterFailure: free the per-model lock, only if
this execution holds it.

Environment: REGISTRY_TABLE.
AWS: dynamodb:DeleteItem (registry table; conditional on the holder).
"""

from __future__ import annotations

from typing import Any

from textloop.adapters.stack import Stack
from textloop.domain.iteration import Iteration
from textloop.steps.payloads import ITERATION, step_schema

EVENT = step_schema(iteration=ITERATION)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    it = Iteration.from_dict(event["iteration"])
    released = ctx.registry.release(it.model_type, holder=it.execution_arn)
    if not released:
        ctx.logger.warning("lock not held by this execution; nothing released")
    return {"released": released}

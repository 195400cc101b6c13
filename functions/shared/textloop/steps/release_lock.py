"""ReleaseLock, ReleaseLockAfterNoOp, ReleaseLockAfterFailure: free the per-model lock, only if
this execution holds it.

ReleaseLockAfterFailure names the execution alone (``execution_arn``): a failure in Prepare
leaves no ``$.iteration`` and maybe no known model type, while the iterations API may have taken
the lock for this execution before it started. The lock of every model type is then released if
this execution holds it (each delete is conditional on the holder, so no other lock is touched).

Environment: REGISTRY_TABLE.
AWS: dynamodb:DeleteItem (registry table; conditional on the holder).
"""

from __future__ import annotations

from typing import Any

from textloop.adapters.stack import Stack
from textloop.domain.iteration import Iteration
from textloop.domain.names import ModelType
from textloop.steps.payloads import ITERATION, step_schema

EVENT = {
    **step_schema(
        optional={"iteration": ITERATION, "execution_arn": {"type": "string", "minLength": 1}}
    ),
    "anyOf": [{"required": ["iteration"]}, {"required": ["execution_arn"]}],
}


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    if "iteration" in event:
        it = Iteration.from_dict(event["iteration"])
        released = ctx.registry.release(it.model_type, holder=it.execution_arn)
    else:
        holder = event["execution_arn"]
        # A list, not any(): every model type's lock is tried.
        released = any([ctx.registry.release(m.value, holder=holder) for m in ModelType])
    if not released:
        ctx.logger.warning("lock not held by this execution; nothing released")
    return {"released": released}

"""Completing Step Functions task tokens, where a repeat is normal.

Callbacks arrive at least once (A2I events) and people press buttons twice. Step Functions
answers a token that was already completed, or whose task timed out, with ``TaskTimedOut`` (or
``InvalidToken`` for a token it no longer knows): for us that means "already done", so it is
reported, not raised.

Before an answer is stored, its callers ask whether anyone still waits (``execution_status``):
an answer to an iteration that was stopped or failed must be refused, not stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code

_ALREADY_DONE = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


@dataclass(frozen=True)
class TokenResult:
    delivered: bool
    code: str | None = None  # the Step Functions error code when not delivered


class TaskTokens:
    def __init__(self, sfn_client: Any):
        self.sfn = sfn_client

    def succeed(self, token: str, output: dict[str, Any]) -> TokenResult:
        return self._call(self.sfn.send_task_success, taskToken=token, output=json.dumps(output))

    def execution_status(self, execution_arn: str) -> str | None:
        """The execution's status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED); None when
        Step Functions does not know it (deleted with its state machine, or never existed)."""
        try:
            described = self.sfn.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
                return None
            raise
        return described["status"]

    def fail(self, token: str, error: str, cause: str) -> TokenResult:
        # SendTaskFailure limits: error 256 characters, cause 32,768.
        return self._call(
            self.sfn.send_task_failure, taskToken=token, error=error[:256], cause=cause[:32768]
        )

    @staticmethod
    def _call(method: Any, **kwargs: Any) -> TokenResult:
        try:
            method(**kwargs)
        except ClientError as exc:
            code = error_code(exc)
            if code in _ALREADY_DONE:
                return TokenResult(delivered=False, code=code)
            raise
        return TokenResult(delivered=True)

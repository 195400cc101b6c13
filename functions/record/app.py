"""Lambda handler of the RecordNoOp, RecordDecision and RecordFailure states:
``textloop.steps.record``."""

from textloop.handler import lambda_handler
from textloop.steps import record

handler = lambda_handler(record)

"""Lambda handler of the ReleaseLock, ReleaseLockAfterNoOp and ReleaseLockAfterFailure states:
``textloop.steps.release_lock``."""

from textloop.handler import lambda_handler
from textloop.steps import release_lock

handler = lambda_handler(release_lock)

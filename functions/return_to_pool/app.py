"""Lambda handler of the ReturnToPool state: ``textloop.steps.return_to_pool``."""

from textloop.handler import lambda_handler
from textloop.steps import return_to_pool

handler = lambda_handler(return_to_pool)

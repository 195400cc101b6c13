"""Lambda handler of the PromoteCandidate state: ``textloop.steps.promote_candidate``."""

from textloop.handler import lambda_handler
from textloop.steps import promote_candidate

handler = lambda_handler(promote_candidate)

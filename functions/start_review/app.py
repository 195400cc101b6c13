"""Lambda handler of the StartReview state: ``textloop.steps.start_review``."""

from textloop.handler import lambda_handler
from textloop.steps import start_review

handler = lambda_handler(start_review)

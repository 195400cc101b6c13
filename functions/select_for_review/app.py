"""Lambda handler of the SelectForReview state: ``textloop.steps.select_for_review``."""

from textloop.handler import lambda_handler
from textloop.steps import select_for_review

handler = lambda_handler(select_for_review)

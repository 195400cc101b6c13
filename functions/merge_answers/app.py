"""Lambda handler of the MergeAnswers state: ``textloop.steps.merge_answers``."""

from textloop.handler import lambda_handler
from textloop.steps import merge_answers

handler = lambda_handler(merge_answers)

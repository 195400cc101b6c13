"""Lambda handler of the Evaluate state: ``textloop.steps.evaluate``."""

from textloop.handler import lambda_handler
from textloop.steps import evaluate

handler = lambda_handler(evaluate)

"""Lambda handler of the DescribeTraining state: ``textloop.steps.describe_training``."""

from textloop.handler import lambda_handler
from textloop.steps import describe_training

handler = lambda_handler(describe_training)

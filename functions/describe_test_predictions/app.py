"""Lambda handler of the DescribeTestPredictions state:
``textloop.steps.describe_test_predictions``."""

from textloop.handler import lambda_handler
from textloop.steps import describe_test_predictions

handler = lambda_handler(describe_test_predictions)

"""Lambda handler of the PredictTestSet state: ``textloop.steps.predict_test_set``."""

from textloop.handler import lambda_handler
from textloop.steps import predict_test_set

handler = lambda_handler(predict_test_set)

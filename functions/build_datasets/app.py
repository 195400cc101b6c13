"""Lambda handler of the BuildDatasets state: ``textloop.steps.build_datasets``."""

from textloop.handler import lambda_handler
from textloop.steps import build_datasets

handler = lambda_handler(build_datasets)

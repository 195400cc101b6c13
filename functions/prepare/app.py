"""Lambda handler of the Prepare state: ``textloop.steps.prepare``."""

from textloop.handler import lambda_handler
from textloop.steps import prepare

handler = lambda_handler(prepare)

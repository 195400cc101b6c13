"""Lambda handler of the Train state: ``textloop.steps.train``."""

from textloop.handler import lambda_handler
from textloop.steps import train

handler = lambda_handler(train)

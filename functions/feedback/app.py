"""Lambda handler of POST /feedback: ``textloop.api.feedback``."""

from textloop.api import feedback
from textloop.handler import lambda_handler

handler = lambda_handler(feedback)

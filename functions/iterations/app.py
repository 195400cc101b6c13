"""Lambda handler of the iterations API: ``textloop.api.iterations``."""

from textloop.api import iterations
from textloop.handler import lambda_handler

handler = lambda_handler(iterations)

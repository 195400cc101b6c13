"""Lambda handler of POST /classify: ``textloop.api.classify``."""

from textloop.api import classify
from textloop.handler import lambda_handler

handler = lambda_handler(classify)

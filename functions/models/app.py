"""Lambda handler of the models API: ``textloop.api.models``."""

from textloop.api import models
from textloop.handler import lambda_handler

handler = lambda_handler(models)

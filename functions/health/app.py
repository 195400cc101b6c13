"""Lambda handler of GET /health: ``textloop.api.health``."""

from textloop.api import health
from textloop.handler import lambda_handler

handler = lambda_handler(health)

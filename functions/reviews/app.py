"""Lambda handler of the review API: ``textloop.api.reviews``."""

from textloop.api import reviews
from textloop.handler import lambda_handler

handler = lambda_handler(reviews)

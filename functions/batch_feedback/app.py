"""Lambda handler of batch feedback files dropped under uploads/feedback/:
``textloop.events.batch_feedback``."""

from textloop.events import batch_feedback
from textloop.handler import lambda_handler

handler = lambda_handler(batch_feedback)

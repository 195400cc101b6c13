"""Lambda handler of the feedback queue's batches: ``textloop.events.write_feedback``."""

from textloop.events import write_feedback
from textloop.handler import lambda_handler

handler = lambda_handler(write_feedback)

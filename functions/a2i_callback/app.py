"""Lambda handler of A2I human-loop status changes complete review batches:
``textloop.events.a2i_callback``."""

from textloop.events import a2i_callback
from textloop.handler import lambda_handler

handler = lambda_handler(a2i_callback)

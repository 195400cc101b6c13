"""Lambda handler of POST /approvals/{iteration_id}: ``textloop.api.approvals``."""

from textloop.api import approvals
from textloop.handler import lambda_handler

handler = lambda_handler(approvals)

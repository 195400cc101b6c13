"""Lambda handler of the WaitForApproval state: ``textloop.steps.wait_for_approval``."""

from textloop.handler import lambda_handler
from textloop.steps import wait_for_approval

handler = lambda_handler(wait_for_approval)

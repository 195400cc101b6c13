"""Operator-side code: deploying the stack with Terraform and driving it (not shipped to Lambda)."""

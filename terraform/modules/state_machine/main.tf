locals {
  role_name = coalesce(var.role_name, "${var.name}-sfn")

  # Versions and aliases ("<arn>:<qualifier>") are distinct resources to IAM; a Task that
  # calls a qualified ARN needs them listed too.
  lambda_resources = flatten([for arn in var.lambda_function_arns : [arn, "${arn}:*"]])
}

################################################################################
# State machine
################################################################################

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_285:Execution data holds user text (feedback, review answers); it is logged only where var.include_execution_data is set (the LocalStack root), events are always logged at var.log_level.
  name       = var.name
  type       = var.type
  role_arn   = aws_iam_role.this.arn
  definition = templatefile(var.definition_file, var.definition_variables)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this.arn}:*"
    include_execution_data = var.include_execution_data
    level                  = var.log_level
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  tags = var.tags

  # Step Functions checks the role's logging permissions when the machine is created.
  depends_on = [aws_iam_role_policy.this]
}

# The /aws/vendedlogs/ prefix is the one AWS recommends for services that deliver logs through
# CloudWatch Logs' resource policy: it keeps that policy from growing past its size limit.
resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/vendedlogs/states/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

################################################################################
# IAM role
################################################################################

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    # Confused-deputy guard: only state machines of this account may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name                  = local.role_name
  description           = "Execution role of the ${var.name} state machine"
  assume_role_policy    = data.aws_iam_policy_document.assume_role.json
  permissions_boundary  = var.role_permissions_boundary
  force_detach_policies = true

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  #checkov:skip=CKV_AWS_111:The log-delivery actions Step Functions needs (logs:CreateLogDelivery and friends) accept only "*" as resource; see the Step Functions logging IAM documentation.
  #checkov:skip=CKV_AWS_356:Same actions as above: AWS documents "*" as their only valid resource.
  dynamic "statement" {
    for_each = length(local.lambda_resources) == 0 ? [] : [local.lambda_resources]

    content {
      sid       = "InvokeGivenFunctions"
      actions   = ["lambda:InvokeFunction"]
      resources = statement.value
    }
  }

  # Vended log delivery is configured through these account-level actions, which take no
  # resource ARN; the log group itself is protected by its KMS key and the logs resource policy.
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.tracing_enabled ? [1] : []

    content {
      sid = "XRayWrite"
      actions = [
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
      ]
      # X-Ray has no resource-level permissions for these actions.
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.policy_statements

    content {
      sid       = statement.value.sid
      effect    = statement.value.effect
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${local.role_name}-least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

locals {
  packager  = coalesce(var.packager_script, "${path.module}/../lambda_layer/package.py")
  role_name = coalesce(var.role_name, var.function_name)

  # Kept identical to the lambda_layer module: the same pattern goes to package.py, so the
  # files hashed here are exactly the files zipped.
  exclude_regex = "(^|/)(__pycache__|\\.pytest_cache|\\.mypy_cache|\\.ruff_cache|tests)(/|$)|\\.py[co]$|(^|/)[^/]+\\.egg-info(/|$)"

  source_files = {
    for file in sort(fileset(var.source_dir, "**")) : file => filesha256("${var.source_dir}/${file}")
    if length(regexall(local.exclude_regex, file)) == 0
  }

  # The zip is built during apply, so plan-time change detection hashes the inputs.
  source_hash = sha256(jsonencode({
    packager = filesha256(local.packager)
    files    = local.source_files
  }))

  build_dir    = coalesce(var.build_dir, "${path.root}/build")
  package_path = "${local.build_dir}/${var.function_name}-${substr(local.source_hash, 0, 32)}.zip"

  # "app.handler" -> "app.py", "pkg.mod.handler" -> "pkg/mod.py": checked at plan time so a
  # typo fails before anything is deployed.
  handler_parts = split(".", var.handler)
  handler_file  = "${join("/", slice(local.handler_parts, 0, length(local.handler_parts) - 1))}.py"

  packager_args = concat(
    ["--source", var.source_dir, "--exclude-regex", local.exclude_regex],
    var.cache_dir == null ? [] : ["--cache-dir", var.cache_dir],
  )
}

################################################################################
# Package (the function's own directory only; shared code comes from a layer)
################################################################################

resource "terraform_data" "package" {
  triggers_replace = [local.source_hash, local.package_path]

  input = local.package_path

  provisioner "local-exec" {
    interpreter = concat([var.python_executable, local.packager], local.packager_args)
    command     = local.package_path
  }

  lifecycle {
    precondition {
      condition     = fileexists("${var.source_dir}/${local.handler_file}")
      error_message = "Handler ${var.handler} needs ${var.source_dir}/${local.handler_file}."
    }
  }
}

################################################################################
# Function
################################################################################

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:No VPC: the functions call only AWS APIs (S3, Step Functions, Comprehend), and a VPC would need NAT or endpoints that cost money and do not exist on LocalStack.
  #checkov:skip=CKV_AWS_272:Code signing needs AWS Signer, which LocalStack does not offer; packages are built reproducibly from the repository instead.
  function_name = var.function_name
  description   = var.description
  role          = aws_iam_role.this.arn
  handler       = var.handler
  runtime       = var.runtime
  architectures = var.architectures
  memory_size   = var.memory_size
  timeout       = var.timeout
  layers        = var.layers

  filename         = terraform_data.package.output
  source_code_hash = local.source_hash

  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn

  dynamic "environment" {
    for_each = length(var.environment_variables) == 0 ? [] : [var.environment_variables]

    content {
      variables = environment.value
    }
  }

  tracing_config {
    mode = var.tracing_mode
  }

  dynamic "dead_letter_config" {
    for_each = var.create_dead_letter_queue ? [aws_sqs_queue.dlq[0].arn] : []

    content {
      target_arn = dead_letter_config.value
    }
  }

  tags = var.tags

  # Lambda creates /aws/lambda/<name> on first invoke if it does not exist, without retention
  # or KMS; creating ours first avoids that race. The role policy must exist before the first
  # invoke too, or its first logs and the DLQ write are denied.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_sqs_queue" "dlq" {
  count = var.create_dead_letter_queue ? 1 : 0

  name                      = "${var.function_name}-dlq"
  message_retention_seconds = var.dead_letter_retention_seconds

  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = var.kms_key_arn == null ? null : 3600
  sqs_managed_sse_enabled           = var.kms_key_arn == null ? true : null

  tags = var.tags
}

################################################################################
# IAM role: logs to its own group, X-Ray, its DLQ, its KMS key, plus the caller's statements
################################################################################

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name                  = local.role_name
  description           = "Execution role of the ${var.function_name} Lambda function"
  assume_role_policy    = data.aws_iam_policy_document.assume_role.json
  permissions_boundary  = var.role_permissions_boundary
  force_detach_policies = true

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.tracing_mode == "Active" ? [1] : []

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
    for_each = var.create_dead_letter_queue ? [aws_sqs_queue.dlq[0].arn] : []

    content {
      sid       = "SendToDeadLetterQueue"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }

  # Decrypt reads the environment variables; GenerateDataKey writes to the KMS-encrypted DLQ.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseFunctionKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
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

################################################################################
# Alarms
################################################################################

resource "aws_cloudwatch_metric_alarm" "errors" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${var.function_name}-errors"
  alarm_description   = "The ${var.function_name} function returned errors."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
  ok_actions    = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]

  tags = var.tags
}

# An asynchronous event that failed every retry lands in the DLQ silently; this makes it loud.
resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  count = var.create_alarms && var.create_dead_letter_queue ? 1 : 0

  alarm_name          = "${var.function_name}-dead-letters"
  alarm_description   = "Events for ${var.function_name} are waiting in its dead-letter queue."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[0].name }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
  ok_actions    = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]

  tags = var.tags
}

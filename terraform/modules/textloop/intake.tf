################################################################################
# Buffered intake: classify and feedback send each feedback record to an SQS queue; the
# write_feedback function receives batches and writes them to the lake as gzipped JSON Lines
# files partitioned by model type and hour (textloop.events.write_feedback).
#
# SQS, not Kinesis Data Firehose: Firehose names its own objects, so a re-delivered batch could
# not land on the same content-addressed key, and LocalStack's Firehose does not buffer.
################################################################################

locals {
  feedback_queue_name = "${local.name}-feedback"
  # The consumer's timeout bounds how long a batch is invisible; SQS wants the queue's visibility
  # timeout at least six times the function's (Lambda developer guide, "Using Lambda with SQS").
  write_feedback_timeout = 120

  # What classify and feedback need to queue a record: SendMessage on the queue. The queue is
  # encrypted with the stack key, which every function may already use for GenerateDataKey
  # (modules/lambda_function, UseFunctionKey).
  feedback_queue_send = {
    sid       = "QueueFeedback"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.feedback.arn]
  }

  intake_function_specs = {
    write_feedback = {
      description = "Writes batches of the feedback queue to the lake as files per model type and hour"
      memory_size = 512
      timeout     = local.write_feedback_timeout
      # Lambda's SQS poller scales the consumer up to this many instances at once.
      reserved_concurrency = var.intake_max_concurrency
      policy_statements = [
        {
          sid       = "ReceiveFeedback"
          actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
          resources = [aws_sqs_queue.feedback.arn]
        },
        {
          # If-None-Match puts need s3:PutObject only (S3 user guide, "conditional writes").
          sid       = "WriteFeedbackFiles"
          actions   = ["s3:PutObject"]
          resources = [local.lake_objects["feedback"]]
        },
        local.lake_kms_read_write,
      ]
    }
  }
}

resource "aws_sqs_queue" "feedback_dlq" {
  name                              = "${local.feedback_queue_name}-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 3600

  tags = local.tags
}

resource "aws_sqs_queue" "feedback" {
  name                              = local.feedback_queue_name
  visibility_timeout_seconds        = 6 * local.write_feedback_timeout + var.intake_batching_window_seconds
  message_retention_seconds         = var.intake_retention_seconds
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 3600

  # A message the consumer reports as failed (not a feedback record, or its file could not be
  # written) is delivered again; after maxReceiveCount it waits in the DLQ, and the alarm below
  # says so. It is never dropped.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.feedback_dlq.arn
    maxReceiveCount     = var.intake_max_receive_count
  })

  tags = local.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "feedback_dlq" {
  queue_url = aws_sqs_queue.feedback_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.feedback.arn]
  })
}

data "aws_iam_policy_document" "feedback_queue_tls" {
  for_each = {
    feedback     = aws_sqs_queue.feedback.arn
    feedback_dlq = aws_sqs_queue.feedback_dlq.arn
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "feedback" {
  for_each = {
    feedback     = aws_sqs_queue.feedback.id
    feedback_dlq = aws_sqs_queue.feedback_dlq.id
  }

  queue_url = each.value
  policy    = data.aws_iam_policy_document.feedback_queue_tls[each.key].json
}

resource "aws_lambda_event_source_mapping" "write_feedback" {
  event_source_arn                   = aws_sqs_queue.feedback.arn
  function_name                      = module.lambda_function["write_feedback"].arn
  batch_size                         = var.intake_batch_size
  maximum_batching_window_in_seconds = var.intake_batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    # At most the function's reserved concurrency (and at least 2, SQS's minimum).
    maximum_concurrency = max(2, var.intake_max_concurrency)
  }
}

# A record that could not be written waits in the DLQ; this makes it loud.
resource "aws_cloudwatch_metric_alarm" "feedback_dead_letters" {
  alarm_name          = "${local.feedback_queue_name}-dead-letters"
  alarm_description   = "Feedback records wait in ${aws_sqs_queue.feedback_dlq.name}: the write_feedback function could not write them (see its logs by message id)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.feedback_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"

  alarm_actions = [aws_sns_topic.notifications.arn]
  ok_actions    = [aws_sns_topic.notifications.arn]

  tags = local.tags
}

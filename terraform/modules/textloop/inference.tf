################################################################################
# Inference and feedback: POST /classify, POST /feedback (both queue their records: intake.tf),
# batch files under uploads/feedback/
################################################################################

locals {
  # Feedback is checked against the model versions that served and their labels
  # (textloop.adapters.model_catalog): the pointer, the registry history, models/*/ documents.
  model_facts_environment = {
    ACTIVE_MODEL_PARAMETER_PREFIX = local.active_model_parameter_prefix
    REGISTRY_TABLE                = aws_dynamodb_table.registry.name
  }
  model_facts_read = [
    local.pointer_read,
    {
      sid       = "ReadModelLabels"
      actions   = ["s3:GetObject"]
      resources = [local.lake_objects["models"]]
    },
    {
      sid       = "ReadModelHistory"
      actions   = ["dynamodb:Query"]
      resources = [aws_dynamodb_table.registry.arn]
    },
    {
      sid       = "DecryptModelHistory"
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.this.arn]
      conditions = [
        {
          test     = "StringEquals"
          variable = "kms:ViaService"
          values   = ["dynamodb.${local.region}.amazonaws.com"]
        },
      ]
    },
  ]

  inference_function_specs = {
    classify = {
      description = "POST /classify: label(s) and confidence from the active model; low confidence becomes implicit feedback"
      # The local back-end loads a scikit-learn model once per process.
      memory_size          = 1024
      timeout              = 30
      reserved_concurrency = var.classify_reserved_concurrency
      environment = {
        ACTIVE_MODEL_PARAMETER_PREFIX = local.active_model_parameter_prefix
        ACTIVE_MODEL_MAX_AGE_SECONDS  = tostring(var.active_model_max_age_seconds)
        THRESHOLD_OVERRIDE            = var.threshold_override == null ? "" : jsonencode(var.threshold_override)
        CLIENT_APPLICATIONS           = local.client_applications_json
        FEEDBACK_QUEUE_URL            = aws_sqs_queue.feedback.url
      }
      policy_statements = concat([
        local.pointer_read,
        {
          sid       = "ReadModelArtefacts"
          actions   = ["s3:GetObject"]
          resources = [local.lake_objects["models"]]
        },
        local.feedback_queue_send,
        local.lake_kms_read,
      ], local.comprehend_classify)
    }

    feedback = {
      description = "POST /feedback: likes, dislikes and corrections from users"
      timeout     = 10
      environment = merge(local.model_facts_environment, {
        CLIENT_APPLICATIONS = local.client_applications_json
        FEEDBACK_QUEUE_URL  = aws_sqs_queue.feedback.url
      })
      policy_statements = concat([
        local.feedback_queue_send,
        local.lake_kms_read,
      ], local.model_facts_read)
    }

    batch_feedback = {
      description = "Parses batch feedback files dropped under uploads/feedback/ (streamed; errors reported beside the file)"
      memory_size = 512
      # A 1 GB file at ~30,000 lines/s takes minutes; S3 retries the event on failure.
      timeout = 900
      environment = merge(local.model_facts_environment, {
        CLASSIFIER_MODE     = var.classifier_mode
        CLIENT_APPLICATIONS = local.client_applications_json
      })
      policy_statements = concat([
        {
          sid       = "ReadUploads"
          actions   = ["s3:GetObject", "s3:GetObjectVersion"]
          resources = [local.lake_objects["uploads"]]
        },
        {
          sid       = "WriteErrorsObjects"
          actions   = ["s3:PutObject"]
          resources = ["${module.data_lake.bucket_arn}/${module.data_lake.prefixes["uploads"]}errors/*"]
        },
        {
          sid       = "WriteBatchFeedback"
          actions   = ["s3:PutObject"]
          resources = [local.lake_objects["feedback"]]
        },
        local.lake_kms_read_write,
      ], local.model_facts_read)
    }
  }
}

resource "aws_lambda_permission" "batch_feedback_from_s3" {
  statement_id   = "AllowDataLakeUploads"
  action         = "lambda:InvokeFunction"
  function_name  = module.lambda_function["batch_feedback"].function_name
  principal      = "s3.amazonaws.com"
  source_arn     = module.data_lake.bucket_arn
  source_account = local.account_id
}

resource "aws_s3_bucket_notification" "batch_feedback" {
  bucket = module.data_lake.bucket_name

  # Only uploads/feedback/: the errors objects go to uploads/errors/, so the function never
  # triggers itself.
  lambda_function {
    lambda_function_arn = module.lambda_function["batch_feedback"].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "${module.data_lake.prefixes["uploads"]}feedback/"
  }

  depends_on = [aws_lambda_permission.batch_feedback_from_s3]
}

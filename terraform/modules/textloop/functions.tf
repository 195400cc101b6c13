################################################################################
# Shared layer: the `textloop` package plus the locked third-party requirements
################################################################################

module "layer" {
  source = "../lambda_layer"

  name              = "${local.name}-shared"
  description       = "textloop shared package and requirements/layer.txt"
  source_dirs       = ["${local.project_root}/functions/shared"]
  requirements_file = "${local.project_root}/requirements/layer.txt"

  python_executable = var.python_executable
  build_dir         = local.build_dir
  cache_dir         = var.build_cache_dir

  s3_bucket      = module.artifacts.bucket_name
  s3_prefix      = module.artifacts.prefixes["layers"]
  s3_kms_key_arn = aws_kms_key.this.arn

  tags = local.tags
}

################################################################################
# Functions
#
# A new function is one entry in local.function_specs: its code lives in
# functions/<key>/ (handler app.handler unless given), it gets its own role with exactly
# the statements listed, and its ARN becomes the template variable <key>_function_arn of
# every state machine definition. Keys are Python-style (batch_feedback); AWS names use
# hyphens (textloop-dev-batch-feedback).
################################################################################

locals {
  common_environment = {
    STAGE                   = var.stage
    DATA_LAKE_BUCKET        = module.data_lake.bucket_name
    POWERTOOLS_SERVICE_NAME = "textloop"
    # Powertools Metrics refuses to flush without a namespace.
    POWERTOOLS_METRICS_NAMESPACE = "textloop"
    POWERTOOLS_LOG_LEVEL         = var.function_log_level
    POWERTOOLS_TRACE_DISABLED    = var.enable_xray ? "false" : "true"
  }

  function_defaults = {
    description          = null
    handler              = "app.handler"
    memory_size          = 256
    timeout              = 30
    reserved_concurrency = 5
    environment          = {}
    policy_statements    = []
  }

  function_specs = merge(local.health_function_specs, local.inference_function_specs, local.intake_function_specs, local.loop_function_specs)

  health_function_specs = {
    health = {
      description = "Reports the status of the textloop deployment"
      timeout     = 10
      # HeadBucket needs ListBucket; the check reads nothing else.
      policy_statements = [
        {
          sid       = "InspectDataLake"
          actions   = ["s3:ListBucket"]
          resources = [module.data_lake.bucket_arn]
        },
      ]
    }
  }

  functions = { for key, spec in local.function_specs : key => merge(local.function_defaults, spec) }

  # IAM building blocks shared by the function specs.
  lake_arn = module.data_lake.bucket_arn
  lake_objects = {
    for name, prefix in module.data_lake.prefixes : name => "${module.data_lake.bucket_arn}/${prefix}*"
  }
  # S3 encrypts and decrypts with the data lake key on the caller's behalf; nothing else may.
  lake_kms_via_s3 = [
    {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    },
  ]
  lake_kms_read = {
    sid        = "DecryptDataLakeObjects"
    actions    = ["kms:Decrypt"]
    resources  = [module.data_lake.kms_key_arn]
    conditions = local.lake_kms_via_s3
  }
  lake_kms_read_write = {
    sid        = "EncryptDataLakeObjects"
    actions    = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources  = [module.data_lake.kms_key_arn]
    conditions = local.lake_kms_via_s3
  }
  list_lake = {
    sid       = "ListDataLake"
    actions   = ["s3:ListBucket"]
    resources = [module.data_lake.bucket_arn]
  }
  # The active-model pointer: one SSM parameter per model type, moved only by promote/rollback.
  active_model_parameter_prefix = "/${local.name}"
  active_model_parameter_arn    = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.active_model_parameter_prefix}/active-model/*"
}

module "lambda_function" {
  source   = "../lambda_function"
  for_each = local.functions

  function_name = "${local.name}-${replace(each.key, "_", "-")}"
  description   = each.value.description
  source_dir    = "${local.project_root}/functions/${each.key}"
  handler       = each.value.handler
  memory_size   = each.value.memory_size
  timeout       = each.value.timeout
  layers        = [module.layer.arn]

  environment_variables = merge(
    local.common_environment,
    each.value.environment,
    contains(local.people_functions, each.key) ? local.people_environment : {},
  )
  policy_statements = concat(
    each.value.policy_statements,
    contains(local.people_functions, each.key) ? local.people_policy_statements : [],
  )
  reserved_concurrent_executions = var.enable_reserved_concurrency ? each.value.reserved_concurrency : null

  kms_key_arn         = aws_kms_key.this.arn
  log_retention_days  = var.log_retention_days
  tracing_mode        = var.enable_xray ? "Active" : "PassThrough"
  alarm_sns_topic_arn = aws_sns_topic.notifications.arn

  python_executable = var.python_executable
  build_dir         = local.build_dir
  cache_dir         = var.build_cache_dir

  tags = local.tags
}

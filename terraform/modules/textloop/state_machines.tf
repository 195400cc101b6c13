################################################################################
# State machines
#
# A new state machine is one entry in local.state_machines. Its definition, under
# statemachines/, is rendered with templatefile() and may use:
#   ${<function key>_function_arn}  for every function in local.functions
#   ${data_lake_bucket}, ${artifacts_bucket}, ${notifications_topic_arn}, ${stage}
# Its role may invoke exactly the functions whose ARN variable the definition mentions.
################################################################################

locals {
  state_machines = {
    iteration = {
      definition_file = "${local.project_root}/statemachines/iteration.asl.json"
      # The Notify and NotifyFailure states publish to the (KMS-encrypted) topic directly.
      policy_statements = [
        {
          sid       = "Notify"
          actions   = ["sns:Publish"]
          resources = [aws_sns_topic.notifications.arn]
        },
        {
          sid       = "EncryptNotifications"
          actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
          resources = [aws_kms_key.this.arn]
          conditions = [
            {
              test     = "StringEquals"
              variable = "kms:ViaService"
              values   = ["sns.${local.region}.amazonaws.com"]
            },
          ]
        },
      ]
    }
  }

  state_machine_variables = merge(
    { for key, function in module.lambda_function : "${key}_function_arn" => function.arn },
    {
      data_lake_bucket        = module.data_lake.bucket_name
      artifacts_bucket        = module.artifacts.bucket_name
      notifications_topic_arn = aws_sns_topic.notifications.arn
      stage                   = var.stage
    },
  )
}

module "state_machine" {
  source   = "../state_machine"
  for_each = local.state_machines

  name                 = "${local.name}-${replace(each.key, "_", "-")}"
  definition_file      = each.value.definition_file
  definition_variables = local.state_machine_variables

  # "$${" is a literal "${": a function is invocable only if the template names its variable.
  lambda_function_arns = [
    for key, function in module.lambda_function : function.arn
    if strcontains(file(each.value.definition_file), "$${${key}_function_arn}")
  ]
  policy_statements = each.value.policy_statements

  log_level              = "ALL"
  include_execution_data = var.state_machine_include_execution_data
  log_retention_days     = var.log_retention_days
  kms_key_arn            = aws_kms_key.this.arn
  tracing_enabled        = var.enable_xray

  tags = local.tags
}

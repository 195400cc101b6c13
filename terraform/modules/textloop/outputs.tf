output "name" {
  description = "Name prefix of this deployment's resources (`<name_prefix>-<stage>`)."
  value       = local.name
}

output "kms_key_arn" {
  description = "ARN of the stack KMS key (logs, SNS, SQS, function settings, artifacts)."
  value       = aws_kms_key.this.arn
}

output "notifications_topic_arn" {
  description = "ARN of the SNS topic that alarms and decisions notify; subscribe to it."
  value       = aws_sns_topic.notifications.arn
}

output "data_lake_bucket_name" {
  description = "Name of the data lake bucket."
  value       = module.data_lake.bucket_name
}

output "data_lake_bucket_arn" {
  description = "ARN of the data lake bucket."
  value       = module.data_lake.bucket_arn
}

output "data_lake_kms_key_arn" {
  description = "ARN of the KMS key encrypting the data lake."
  value       = module.data_lake.kms_key_arn
}

output "data_lake_prefixes" {
  description = "Map of data lake prefix name to key prefix (feedback/, reviews/, annotations/, datasets/, models/, audit/, uploads/, flywheels/)."
  value       = module.data_lake.prefixes
}

output "artifacts_bucket_name" {
  description = "Name of the bucket holding layer packages."
  value       = module.artifacts.bucket_name
}

output "layer_arn" {
  description = "ARN (with version) of the shared layer."
  value       = module.layer.arn
}

output "functions" {
  description = "Per function key: name, ARN, role ARN, log group and DLQ URL."
  value = {
    for key, function in module.lambda_function : key => {
      function_name         = function.function_name
      arn                   = function.arn
      role_arn              = function.role_arn
      log_group_name        = function.log_group_name
      dead_letter_queue_url = function.dead_letter_queue_url
    }
  }
}

output "feedback_queue" {
  description = "The intake queue classify and feedback send records to, and its dead-letter queue (URLs and ARNs)."
  value = {
    url     = aws_sqs_queue.feedback.url
    arn     = aws_sqs_queue.feedback.arn
    dlq_url = aws_sqs_queue.feedback_dlq.url
    dlq_arn = aws_sqs_queue.feedback_dlq.arn
  }
}

output "rest_api_id" {
  description = "ID of the REST API."
  value       = module.rest_api.rest_api_id
}

output "api_stage_name" {
  description = "Name of the REST API stage."
  value       = module.rest_api.stage_name
}

output "api_invoke_url" {
  description = "Invoke URL of the stage on AWS."
  value       = module.rest_api.invoke_url
}

output "client_applications" {
  description = "Per client application: its API key id, usage plan id, trust, upload role ARN (the only principal of this stack allowed to write its batch files) and upload prefixes."
  value = {
    for id, app in var.client_applications : id => {
      api_key_id      = module.rest_api.api_key_ids[id]
      usage_plan_id   = module.rest_api.usage_plan_ids[id]
      trusted         = app.trusted
      upload_role_arn = aws_iam_role.upload[id].arn
      upload_prefixes = local.upload_prefixes[id]
    }
  }
}

output "client_api_keys" {
  description = "API key value of each client application (x-api-key header), by application id."
  value       = module.rest_api.api_key_values
  sensitive   = true
}

output "state_machines" {
  description = "Per state machine key: ARN, name and role ARN."
  value = {
    for key, machine in module.state_machine : key => {
      arn      = machine.arn
      name     = machine.name
      role_arn = machine.role_arn
    }
  }
}

output "people_sign_in" {
  description = "Who issues people's bearer tokens: local (the KMS signing key) or cognito."
  value       = var.people_sign_in
}

output "people_token_key_arn" {
  description = "ARN of the KMS key that signs local people tokens (kms:Sign mints them); null with Cognito."
  value       = one(aws_kms_key.people_tokens[*].arn)
}

output "people_token_issuer" {
  description = "iss and aud of local people tokens; null with Cognito."
  value = local.use_local_people ? {
    issuer   = local.people_token_issuer
    audience = local.people_token_audience
  } : null
}

output "people_directory_prefix" {
  description = "SSM parameter path under which `textloop users add` keeps local users and their groups."
  value       = local.people_directory_prefix
}

output "cognito_user_pool_id" {
  description = "ID of the people user pool (reviewers, operators, approvers); null unless people_sign_in = cognito."
  value       = one(aws_cognito_user_pool.people[*].id)
}

output "cognito_user_pool_arn" {
  description = "ARN of the people user pool (for an A2I private workforce); null unless people_sign_in = cognito."
  value       = one(aws_cognito_user_pool.people[*].arn)
}

output "cognito_client_id" {
  description = "ID of the people app client (the CLI and the review page sign in to it); null unless people_sign_in = cognito."
  value       = one(aws_cognito_user_pool_client.people[*].id)
}

output "cognito_groups" {
  description = "Names of the people user pool's groups (reviewers, operators, approvers), by group; empty unless people_sign_in = cognito. An A2I private work team's member definition names the reviewers group: referring to it here orders the work team after the group."
  value       = { for key, group in aws_cognito_user_group.people : key => group.name }
}

output "comprehend_flywheel_role_arn" {
  description = "ARN of the role Comprehend flywheels assume (<name>-comprehend-flywheel; null without the Comprehend back-end)."
  value       = one(aws_iam_role.comprehend_flywheel[*].arn)
}

output "comprehend_flywheel_names" {
  description = "Name of each model type's Comprehend flywheel (comprehend_training = \"flywheel\"), by model type; the first flywheel iteration creates it, so Terraform neither owns nor destroys it."
  value       = local.comprehend_flywheel_names
}

output "stack" {
  description = "What `textloop resources` needs to find this stack's run-time resources: its name (the textloop:stack tag value), data lake bucket, registry table, active-model parameter prefix and region."
  value = {
    name                          = local.name
    data_lake_bucket              = module.data_lake.bucket_name
    registry_table                = aws_dynamodb_table.registry.name
    active_model_parameter_prefix = local.active_model_parameter_prefix
    region                        = local.region
  }
}

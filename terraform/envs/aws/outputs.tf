output "api_url" {
  description = "Base URL of the API stage; append a route, e.g. health."
  value       = "${module.textloop.api_invoke_url}/"
}

output "api_key" {
  description = "API key of the first client application (by id) to send in the x-api-key header: the one the CLI uses."
  value       = module.textloop.client_api_keys[sort(keys(var.client_applications))[0]]
  sensitive   = true
}

output "api_keys" {
  description = "API key of every client application, by application id."
  value       = module.textloop.client_api_keys
  sensitive   = true
}

output "client_applications" {
  description = "Per client application: API key id, usage plan id, trust, upload role ARN and upload prefixes."
  value       = module.textloop.client_applications
}

output "rest_api_id" {
  description = "ID of the REST API."
  value       = module.textloop.rest_api_id
}

output "state_machine_arn" {
  description = "ARN of the active-learning iteration state machine."
  value       = module.textloop.state_machines["iteration"].arn
}

output "data_lake_bucket" {
  description = "Name of the data lake bucket."
  value       = module.textloop.data_lake_bucket_name
}

output "health_function_name" {
  description = "Name of the health function."
  value       = module.textloop.functions["health"].function_name
}

output "notifications_topic_arn" {
  description = "ARN of the notifications topic; subscribe (e.g. by e-mail) to receive alarms."
  value       = module.textloop.notifications_topic_arn
}

output "cognito_user_pool_id" {
  description = "ID of the people user pool; add reviewers, operators and approvers there (README, \"Security model\")."
  value       = module.textloop.cognito_user_pool_id
}

output "cognito_client_id" {
  description = "ID of the people app client people sign in to."
  value       = module.textloop.cognito_client_id
}

output "people_sign_in" {
  description = "Who issues people's bearer tokens (cognito or local)."
  value       = module.textloop.people_sign_in
}

output "people_token_key_arn" {
  description = "ARN of the KMS key that signs people tokens when people_sign_in = local; null with Cognito."
  value       = module.textloop.people_token_key_arn
}

output "people_token_issuer" {
  description = "iss and aud of local people tokens; null with Cognito."
  value       = module.textloop.people_token_issuer
}

output "people_directory_prefix" {
  description = "SSM parameter path of the local user directory (people_sign_in = local)."
  value       = module.textloop.people_directory_prefix
}

output "comprehend_flywheel_role_arn" {
  description = "ARN of the role Comprehend flywheels assume (flywheel mode)."
  value       = module.textloop.comprehend_flywheel_role_arn
}

output "comprehend_flywheel_names" {
  description = "Name of each model type's Comprehend flywheel (created by its first flywheel iteration)."
  value       = module.textloop.comprehend_flywheel_names
}

output "stack" {
  description = "The stack as `textloop resources` reads it: terraform output -json stack | textloop resources --stack-file - list"
  value       = module.textloop.stack
}

output "analytics" {
  description = "Glue database and tables, Athena workgroup, query results location, named query ids and the analysts' least-privilege policy (analyst_policy_json); null with enable_analytics = false."
  value       = module.textloop.analytics
}

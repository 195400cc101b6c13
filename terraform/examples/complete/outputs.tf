output "api_url" {
  description = "Base URL of the API stage; append a route, e.g. health."
  value       = "${module.textloop.api_invoke_url}/"
}

output "api_keys" {
  description = "API key of every client application (the x-api-key header), by application id."
  value       = module.textloop.client_api_keys
  sensitive   = true
}

output "client_applications" {
  description = "Per client application: API key id, usage plan id, trust, upload role ARN and upload prefixes."
  value       = module.textloop.client_applications
}

output "state_machine_arn" {
  description = "ARN of the active-learning iteration state machine."
  value       = module.textloop.state_machines["iteration"].arn
}

output "data_lake_bucket" {
  description = "Name of the data lake bucket."
  value       = module.textloop.data_lake_bucket_name
}

output "notifications_topic_arn" {
  description = "ARN of the notifications topic; subscribe (e.g. by e-mail) to receive alarms and promotion decisions."
  value       = module.textloop.notifications_topic_arn
}

output "cognito_user_pool_id" {
  description = "ID of the people user pool: add reviewers (group reviewers: the review API and the A2I work team), operators and approvers there."
  value       = module.textloop.cognito_user_pool_id
}

output "cognito_client_id" {
  description = "ID of the public app client the CLI and the review page sign in to."
  value       = module.textloop.cognito_client_id
}

output "a2i_workteam_arn" {
  description = "ARN of the work team A2I sends review tasks to."
  value       = local.a2i_workteam_arn
}

output "a2i_worker_portal_url" {
  description = "Where reviewers sign in to work on A2I tasks; null when a2i_workteam_arn names a work team of your own."
  value       = local.create_workforce ? "https://${aws_sagemaker_workteam.reviewers[0].subdomain}" : null
}

output "comprehend_flywheel_names" {
  description = "Name of each model type's Comprehend flywheel; the first flywheel iteration of a model type in flywheel mode creates it (Terraform neither owns nor destroys it)."
  value       = module.textloop.comprehend_flywheel_names
}

output "comprehend_flywheel_role_arn" {
  description = "ARN of the role the flywheels assume to read their data sets and keep their data lake."
  value       = module.textloop.comprehend_flywheel_role_arn
}

output "stack" {
  description = "The stack as `textloop resources` reads it (name, data lake bucket, registry table, active-model parameter prefix, region): terraform output -json stack | textloop resources --stack-file - list (prune --keep N; remove --all before terraform destroy)."
  value       = module.textloop.stack
}
